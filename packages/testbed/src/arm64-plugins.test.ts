import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir, inspectImage } from '@bakehouse/builder';
import { binfmtBlocker, elfArch, enableBinfmt, fixtureBuildEnv, mergeSysext, readFromImage, runBakehouse, scratchWorkspace, serveDirectory, type BinfmtSession } from '@bakehouse/fixtures';
import { debianPluginUpstream, pluginDebs } from './test-support/debian-plugins.js';
import { unpackRuntimeLibraries } from './test-support/debian-upstream.js';

// The arm64 docker-compose and docker-buildx images, built from Debian trixie's real arm64
// binaries under upstream's file names, merged by the host's systemd-sysext into a root holding
// only arm64 glibc, and run there under qemu-user (as arm64.test.ts does for the other images).

const BLOCKER = await binfmtBlocker('arm64');
if (BLOCKER) process.stderr.write(`arm64-plugins.test.ts: SKIPPED, arm64 binaries cannot be run here: ${BLOCKER}\n`);

const PLUGINS = ['docker-compose', 'docker-buildx'] as const;
const DIR = '/usr/libexec/docker/cli-plugins';

let work: string;
let workspace: string;
let binfmt: BinfmtSession | undefined;
let base: string;
const versions = new Map<string, string>();
const image = (name: string) => path.join(workspace, 'extensions', name, 'dist', `${name}-${name === 'docker-compose' ? '5.4.0' : '0.36.1'}-arm64.raw`);

if (BLOCKER) it.skip(`arm64 plugins under qemu-user (skipped: ${BLOCKER})`, () => {});

describe.skipIf(BLOCKER !== undefined)('arm64 docker CLI plugins', () => {
  beforeAll(async () => {
    binfmt = await enableBinfmt('arm64');
    work = await mkdtemp(path.join(os.tmpdir(), 'arm64-plugins-'));
    const cacheDir = defaultCacheDir();
    const site = await serveDirectory(path.join(work, 'site'));
    try {
      const sources = await debianPluginUpstream(path.join(work, 'site'), site.url, cacheDir, 'arm64');
      for (const deb of await pluginDebs(cacheDir, 'arm64')) versions.set(deb.package, deb.version);
      base = path.join(work, 'base');
      await unpackRuntimeLibraries(base, cacheDir, 'arm64');
      workspace = await scratchWorkspace([...PLUGINS]);
      const build = await runBakehouse(['build', '--arch', 'arm64', '--compression', 'gzip', '--quiet', ...PLUGINS], { cwd: workspace, env: { ...(await fixtureBuildEnv(work, sources)), BAKEHOUSE_CACHE_DIR: cacheDir } });
      expect(build.exitCode, build.all).toBe(0);
    } finally {
      await site.close();
    }
  }, 600_000);

  afterAll(async () => {
    await binfmt?.release();
    if (work) await rm(work, { recursive: true, force: true });
    if (workspace) await rm(workspace, { recursive: true, force: true });
  });

  it.each(PLUGINS)('%s: ARCHITECTURE=arm64, an aarch64 plugin that runs under qemu-user and prints its Debian version', async (name) => {
    const file = image(name);
    expect((await inspectImage(file)).extensionRelease.ARCHITECTURE).toBe('arm64');
    expect(elfArch(await readFromImage(file, `${DIR}/${name}`))).toBe('arm64');
    const result = await mergeSysext({
      images: { [name]: file },
      osRelease: { ID: 'flatcar', SYSEXT_LEVEL: '1.0' },
      force: true,
      base,
      probe: `mkdir -p "$ROOT/proc" "$ROOT/tmp" && mount -t proc proc "$ROOT/proc" && chroot "$ROOT" ${DIR}/${name} version 2>&1; echo "rc=$?"`,
    });
    expect(result.exitCode, result.log).toBe(0);
    expect(result.probeOutput, result.probeOutput).toMatch(/^rc=0$/m);
    // Debian's version without its revision, e.g. 2.26.1-4 → 2.26.1.
    const upstream = versions.get(name)!.replace(/^\d+:/, '').replace(/[-+~].*$/, '');
    expect(result.probeOutput).toContain(upstream);
  }, 120_000);
});
