import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir, inspectImage, readRecord } from '@bakehouse/builder';
import type { ExtensionLock, LockedDeb } from '@bakehouse/schema';
import {
  binfmtBlocker,
  ELF_MACHINE,
  enableBinfmt,
  fixtureBuildEnv,
  mergeSysext,
  REPO_ROOT,
  runBakehouse,
  scratchWorkspace,
  serveDirectory,
  type BinfmtSession,
  type LoopbackServer,
} from '@bakehouse/fixtures';
import { realUpstreams, substituteDebs, unpackRuntimeLibraries, type RealUpstreamVersions } from './test-support/debian-upstream.js';
import { repoFlatcarVersion } from './test-support/workspace.js';

// Every extension's arm64 image, merged by the host's real systemd-sysext into a root that holds
// nothing of the host, has its binaries run under qemu-user (binfmt_misc with the F flag, so the
// interpreter need not be inside the chroot). The url-source images are built from archives
// with Debian's real arm64 binaries (debian-upstream.ts).

const BLOCKER = await binfmtBlocker('arm64');
if (BLOCKER) process.stderr.write(`arm64.test.ts: SKIPPED, arm64 binaries cannot be run here: ${BLOCKER}\n`);

const EXTENSIONS = ['containerd', 'docker', 'kubernetes', 'podman', 'oem-qemu', 'oem-hyperv'] as const;
type Extension = (typeof EXTENSIONS)[number];

/** A command run in the chroot, and the Debian package whose version it must print (or a pattern). */
interface Run {
  command: string;
  prints: { versionOf: string } | RegExp;
}

/**
 * What runs, per extension. kubeadm, kubelet, crictl and the CNI plugins have no Debian package
 * (the fixture keeps stand-ins that print "NAME VERSION fixture"), so only kubectl runs for
 * kubernetes. hv_kvp_daemon prints no version, and `passt --version`/`pasta --version` exit 0
 * without writing anything into a pipe (QEMU_STRACE shows no write): their usage text is the
 * proof that they ran.
 */
const RUNS: Record<Extension, Run[]> = {
  containerd: [
    { command: 'containerd --version', prints: { versionOf: 'containerd' } },
    { command: 'ctr --version', prints: { versionOf: 'containerd' } },
    { command: 'containerd-shim-runc-v2 -v', prints: { versionOf: 'containerd' } },
    { command: 'runc --version', prints: { versionOf: 'runc' } },
  ],
  docker: [
    { command: 'docker --version', prints: { versionOf: 'docker-cli' } },
    { command: 'dockerd --version', prints: { versionOf: 'docker.io' } },
    { command: 'docker-proxy --version', prints: { versionOf: 'docker.io' } },
    { command: 'docker-init --version', prints: { versionOf: 'tini' } },
    { command: 'containerd --version', prints: { versionOf: 'containerd' } },
    { command: 'runc --version', prints: { versionOf: 'runc' } },
  ],
  kubernetes: [{ command: 'kubectl version --client', prints: { versionOf: 'kubectl' } }],
  podman: [
    { command: 'podman --version', prints: { versionOf: 'podman' } },
    { command: 'crun --version', prints: { versionOf: 'crun' } },
    { command: 'conmon --version', prints: { versionOf: 'conmon' } },
    // Debian's fuse-overlayfs 1.14 was built from a tree that still calls itself 1.13-dev.
    { command: 'fuse-overlayfs --version', prints: /^fuse-overlayfs: version \d+\.\d+/m },
    { command: 'catatonit --version', prints: { versionOf: 'catatonit' } },
    { command: 'passt --help', prints: /^Usage: \/usr\/bin\/passt /m },
    { command: 'pasta --help', prints: /^Usage: \/usr\/bin\/pasta /m },
  ],
  'oem-qemu': [{ command: 'qemu-ga --version', prints: { versionOf: 'qemu-guest-agent' } }],
  'oem-hyperv': [{ command: 'hv_kvp_daemon --help', prints: /Usage: .*hv_kvp_daemon/ }],
};

/** The upstream part of a Debian version: no epoch, no revision, no repack suffix (1:10.0.3+ds-2 → 10.0.3). */
function upstreamVersion(debianVersion: string): string {
  return /^(?:\d+:)?(\d+(?:\.\d+)*)/.exec(debianVersion)?.[1] ?? debianVersion;
}

/** The versions the locks pin, so the fixture archives sit at the URLs the builds ask for. */
async function lockedVersions(): Promise<RealUpstreamVersions> {
  const lock = async (name: string) => JSON.parse(await readFile(path.join(REPO_ROOT, 'extensions', name, 'extension.lock.json'), 'utf8')) as ExtensionLock;
  const [containerd, docker, kubernetes] = await Promise.all(['containerd', 'docker', 'kubernetes'].map(lock));
  const input = (image: ExtensionLock['images'][number], name: string) => image.inputs[name]!.version;
  return {
    containerd: input(containerd!.images[0]!, 'containerd'),
    runc: input(containerd!.images[0]!, 'runc'),
    docker: input(docker!.images[0]!, 'docker'),
    kubernetes: {
      releases: Object.fromEntries(kubernetes!.images.map((image) => [input(image, 'kubectl'), input(image, 'crictl')])),
      cni: input(kubernetes!.images[0]!, 'cni-plugins'),
    },
  };
}

/** Prints `elf MACHINE PATH` for every regular ELF file below usr/ and opt/ of the merged root. */
const ELF_SCAN = `
const fs = require("node:fs"), path = require("node:path"), root = process.env.ROOT;
const header = Buffer.alloc(20);
const walk = (dir) => { for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
  const file = path.join(dir, e.name);
  if (e.isDirectory()) walk(file);
  else if (e.isFile()) { const fd = fs.openSync(file, "r"); const n = fs.readSync(fd, header, 0, 20, 0); fs.closeSync(fd);
    if (n === 20 && header.readUInt32BE(0) === 0x7f454c46) console.log("elf", header.readUInt16LE(18), path.relative(root, file)); } } };
for (const top of ["usr", "opt"]) if (fs.existsSync(path.join(root, top))) walk(path.join(root, top));
`;

interface Outcome {
  /** e_machine → ELF files with it. */
  elfs: Map<number, string[]>;
  runs: { command: string; exitCode: number; output: string }[];
}

function probe(runs: Run[]): string {
  const chroot = runs.map((run) => `echo "## run ${run.command}"; chroot "$ROOT" /usr/bin/${run.command} 2>&1; rc=$?; echo; echo "## exit $rc"`);
  // A real /proc: Go runtimes and crun read /proc/self; qemu-user emulates parts of it too.
  return [`mkdir -p "$ROOT/proc" "$ROOT/tmp" && mount -t proc proc "$ROOT/proc"`, `"${process.execPath}" -e '${ELF_SCAN}'`, ...chroot].join('\n');
}

function parseOutcome(output: string): Outcome {
  const elfs = new Map<number, string[]>();
  for (const [, machine, file] of output.matchAll(/^elf (\d+) (.+)$/gm)) elfs.set(Number(machine), [...(elfs.get(Number(machine)) ?? []), file!]);
  const runs = [...output.matchAll(/^## run (.+)\n([\s\S]*?)^## exit (\d+)$/gm)].map(([, command, text, code]) => ({ command: command!, output: text!.trim(), exitCode: Number(code) }));
  return { elfs, runs };
}

const timings: Record<string, number> = {};
let work: string;
let workspace: string;
let site: LoopbackServer | undefined;
let binfmt: BinfmtSession | undefined;
let flatcarVersion: string;
/** The arm64 libraries Debian's substitutes link against: the only thing in their root besides the image. */
let runtimeBase: string;
/** Debian package → version, of everything that is run. */
const debianVersions = new Map<string, string>();
const images = new Map<Extension, string>();

if (BLOCKER) it.skip(`arm64 execution (skipped: ${BLOCKER})`, () => {});

describe.skipIf(BLOCKER !== undefined)('arm64 images run under qemu-user from an otherwise empty root', () => {
  beforeAll(async () => {
    let started = Date.now();
    const lap = (name: string) => {
      timings[name] = Date.now() - started;
      started = Date.now();
    };
    binfmt = await enableBinfmt('arm64');
    work = await mkdtemp(path.join(os.tmpdir(), 'arm64-check-'));
    flatcarVersion = await repoFlatcarVersion();
    const cacheDir = defaultCacheDir();
    site = await serveDirectory(path.join(work, 'site'));
    const sources = await realUpstreams(path.join(work, 'site'), site.url, await lockedVersions(), cacheDir, ['arm64']);
    runtimeBase = path.join(work, 'base');
    await unpackRuntimeLibraries(runtimeBase, cacheDir, 'arm64');
    for (const deb of await substituteDebs(cacheDir, 'arm64')) debianVersions.set(deb.package, deb.version);
    lap('fixture archives and arm64 libc (cached downloads)');

    // The download cache is content-addressed, so sharing the user's saves the closures' .debs.
    const env = { ...(await fixtureBuildEnv(work, sources)), BAKEHOUSE_CACHE_DIR: cacheDir };
    workspace = await scratchWorkspace([...EXTENSIONS]);
    const build = await runBakehouse(['build', '--arch', 'arm64', '--compression', 'gzip', '--flatcar-version', flatcarVersion, '--quiet', ...EXTENSIONS], { cwd: workspace, env });
    expect(build.exitCode, build.all).toBe(0);
    for (const name of EXTENSIONS) {
      const dist = path.join(workspace, 'extensions', name, 'dist');
      const sums = (await readFile(path.join(dist, 'SHA256SUMS'), 'utf8')).split('\n').map((line) => line.split(/\s+/)[1] ?? '');
      // kubernetes has one image per line; only the newest carries Debian's kubectl.
      const file = sums.filter((f) => f.endsWith('-arm64.raw')).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1);
      expect(file, `no arm64 image in ${dist}`).toBeDefined();
      images.set(name, path.join(dist, file!));
      for (const deb of (await readRecord(path.join(dist, file!.replace(/\.raw$/, '.json')))).debian ?? []) debianVersions.set(deb.package, deb.version);
    }
    lap('building the 6 arm64 images (gzip)');
  }, 600_000);

  afterAll(async () => {
    await binfmt?.release();
    await site?.close();
    if (work) await rm(work, { recursive: true, force: true });
    if (workspace) await rm(workspace, { recursive: true, force: true });
    process.stderr.write(`arm64.test.ts timings: ${JSON.stringify(Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, `${(v / 1000).toFixed(1)} s`])))}\n`);
  });

  it('the images say ARCHITECTURE=arm64, and the host systemd-sysext refuses them without --force', async () => {
    for (const image of images.values()) expect((await inspectImage(image)).extensionRelease.ARCHITECTURE).toBe('arm64');
    const refused = await mergeSysext({ images: { podman: images.get('podman')! }, osRelease: { ID: 'flatcar', SYSEXT_LEVEL: '1.0' } });
    expect(refused.files).not.toContain('usr/bin/podman');
    expect(refused.log).toMatch(/No suitable extensions found/);
  });

  it.each(EXTENSIONS)('%s: merged by systemd-sysext, its binaries run as aarch64 under qemu-user', async (name) => {
    const started = Date.now();
    // Debian's substitutes need glibc (upstream's static binaries do not); the Debian closures bring their own.
    const base = ['containerd', 'docker', 'kubernetes'].includes(name) ? runtimeBase : undefined;
    const result = await mergeSysext({
      images: { [name]: images.get(name)! },
      osRelease: { ID: 'flatcar', VERSION_ID: flatcarVersion, SYSEXT_LEVEL: '1.0' },
      force: true,
      ...(base ? { base } : {}),
      probe: probe(RUNS[name]),
    });
    expect(result.exitCode, result.log).toBe(0);
    expect(result.log).toContain(`Using extensions '${name}'`);
    const { elfs, runs } = parseOutcome(result.probeOutput);

    // Nothing in the root could run natively: every ELF file is aarch64.
    expect([...elfs.keys()], `ELF machines in the merged root: ${[...elfs].map(([m, f]) => `${m}: ${f.slice(0, 3).join(', ')}`).join('; ')}`).toEqual([ELF_MACHINE.arm64]);
    for (const run of RUNS[name]) {
      const binary = run.command.split(' ')[0]!;
      expect(result.files, `${binary} is not in the merged /usr/bin`).toContain(`usr/bin/${binary}`);
      const outcome = runs.find((r) => r.command === run.command);
      expect(outcome, `${run.command} did not run:\n${result.probeOutput}`).toBeDefined();
      expect(outcome!.exitCode, `${run.command}:\n${outcome!.output}`).toBe(0);
      if (run.prints instanceof RegExp) expect(outcome!.output).toMatch(run.prints);
      else {
        const version = debianVersions.get(run.prints.versionOf);
        expect(version, `no Debian version of ${run.prints.versionOf}`).toBeDefined();
        expect(outcome!.output, `${run.command} should print ${run.prints.versionOf}'s version`).toContain(upstreamVersion(version!));
      }
    }
    timings[`run ${name}`] = Date.now() - started;
  }, 120_000);
});
