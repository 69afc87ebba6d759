import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { defaultCacheDir } from '@bakehouse/builder';
import { fixtureBuildEnv, REPO_ROOT, runBakehouse, scratchWorkspace, serveDirectory } from '@bakehouse/fixtures';
import { realUpstreams, type RealUpstreamVersions } from './debian-upstream.js';

/** The upstream versions the fixture archives are named after (their binaries are Debian's). */
export const VERSIONS: RealUpstreamVersions = {
  containerd: '2.3.4',
  runc: '1.4.3',
  docker: '28.5.2',
  kubernetes: { releases: { '1.36.3': '1.36.0', '1.35.7': '1.35.0' }, cni: '1.9.1' },
};

export const FIXTURE_EXTENSIONS = ['containerd', 'docker', 'kubernetes', 'podman', 'oem-qemu'];

/** What decides the fixture images: the extensions, the code that builds them and these fixtures. */
async function inputsKey(flatcarVersion: string): Promise<string> {
  // The workspace links node_modules into this clone, so another clone needs its own.
  const hash = createHash('sha256').update(JSON.stringify({ VERSIONS, flatcarVersion, REPO_ROOT }));
  const dirs = [...FIXTURE_EXTENSIONS.map((e) => `extensions/${e}`), 'packages/builder/src', 'packages/schema/src', 'packages/cli/src', 'tools/fixtures/src', 'packages/testbed/src/test-support'];
  for (const dir of dirs) {
    for (const file of (await listFiles(path.join(REPO_ROOT, dir))).sort()) {
      if (file.endsWith('.test.ts')) continue;
      hash.update(path.relative(REPO_ROOT, file)).update(await readFile(file));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (['node_modules', 'dist', '.turbo'].includes(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/**
 * A scratch workspace with the boot tests' extensions built from Debian's real binaries in
 * upstream's layout (x86-64; containerd also arm64), shared by the nspawn and the VM boot
 * tests and by later runs: it is keyed by everything that decides the images, kept in the
 * temporary directory, and made under a lock so two test files never build it twice.
 */
export async function fixtureWorkspace(flatcarVersion: string): Promise<string> {
  const key = await inputsKey(flatcarVersion);
  const target = path.join(os.tmpdir(), `bakehouse-boot-fixtures-${key}`);
  if (await isDirectory(target)) return target;
  const release = await lockfile.lock(target, { realpath: false, lockfilePath: `${target}.lock`, retries: { retries: 1800, factor: 1, minTimeout: 1000, maxTimeout: 1000 }, onCompromised: () => {} });
  try {
    if (await isDirectory(target)) return target;
    // Fixtures of older inputs are not used again once a day has passed (another test run may still be booting them).
    for (const old of await readdir(os.tmpdir())) {
      const dir = path.join(os.tmpdir(), old);
      if (!old.startsWith('bakehouse-boot-fixtures-') || old.endsWith('.lock')) continue;
      if (Date.now() - ((await stat(dir).catch(() => undefined))?.mtimeMs ?? Date.now()) > 86_400_000) await rm(dir, { recursive: true, force: true });
    }
    const work = await mkdtemp(path.join(os.tmpdir(), 'testbed-fixtures-'));
    const site = await serveDirectory(path.join(work, 'site'));
    try {
      const sources = await realUpstreams(path.join(work, 'site'), site.url, VERSIONS, defaultCacheDir());
      // The download cache is content-addressed, so sharing the user's saves podman's and oem-qemu's .debs.
      const env = { ...(await fixtureBuildEnv(work, sources)), BAKEHOUSE_CACHE_DIR: defaultCacheDir() };
      const workspace = await scratchWorkspace(FIXTURE_EXTENSIONS);
      const build = await runBakehouse(['build', '--arch', 'x86-64', '--flatcar-version', flatcarVersion, '--quiet', 'docker', 'kubernetes', 'podman', 'oem-qemu'], { cwd: workspace, env });
      if (build.exitCode !== 0) throw new Error(`fixture build failed:\n${build.all}`);
      // Both arches in one build (a build replaces dist/): the arm64 image is one systemd must refuse on x86-64.
      const containerd = await runBakehouse(['build', '--arch', 'all', '--quiet', 'containerd'], { cwd: workspace, env });
      if (containerd.exitCode !== 0) throw new Error(`fixture build failed:\n${containerd.all}`);
      await mkdir(path.dirname(target), { recursive: true });
      await rename(workspace, target);
    } finally {
      await site.close();
      await rm(work, { recursive: true, force: true });
    }
    return target;
  } finally {
    await release().catch(() => {});
  }
}

async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
