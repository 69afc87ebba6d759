import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir } from '@bakehouse/builder';
import { binfmtBlocker, enableBinfmt, runBakehouse, scratchWorkspace, type BinfmtSession } from '@bakehouse/fixtures';
import { bootVm, checksFor, ensureVmRoot, findImages, type VmRoot } from './index.js';
import { describeFailure } from './test-support/boot-helpers.js';
import { repoFlatcarVersion, repoManifest } from './test-support/workspace.js';

// podman's arm64 image in an arm64 VM (qemu-system-aarch64 -M virt, TCG, Debian's arm64
// kernel), running containers. Slow under emulation, so not part of `pnpm test`: run it with
// `pnpm test:vm:arm64`, which sets BAKEHOUSE_TEST_VM_ARM64=1.

const WANTED = process.env.BAKEHOUSE_TEST_VM_ARM64 === '1';
const BLOCKER = WANTED ? await binfmtBlocker('arm64') : undefined;
const SKIP = !WANTED ? 'set BAKEHOUSE_TEST_VM_ARM64=1 (pnpm test:vm:arm64)' : BLOCKER;
if (SKIP) process.stderr.write(`vm-arm64.test.ts: SKIPPED: ${SKIP}\n`);

let vm: VmRoot;
let workspace: string;
let binfmt: BinfmtSession | undefined;
let work: string;
const timings: Record<string, number> = {};

beforeAll(async () => {
  if (SKIP) return;
  const started = Date.now();
  work = await mkdtemp(path.join(os.tmpdir(), 'testbed-vm-arm64-'));
  // The arm64 root's maintainer scripts run under qemu-user while mmdebstrap builds it.
  binfmt = await enableBinfmt('arm64');
  vm = await ensureVmRoot(await repoFlatcarVersion(), { arch: 'arm64' });
  timings['(arm64 vm root)'] = Date.now() - started;
  workspace = await scratchWorkspace(['podman']);
  const build = await runBakehouse(['build', 'podman', '--arch', 'arm64', '--compression', 'gzip', '--quiet'], { cwd: workspace, env: { BAKEHOUSE_CACHE_DIR: defaultCacheDir() } });
  expect(build.exitCode, build.all).toBe(0);
  timings['(podman arm64 build)'] = Date.now() - started - timings['(arm64 vm root)']!;
}, 3_600_000);

afterAll(async () => {
  await binfmt?.release();
  if (workspace) await rm(workspace, { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
  if (!SKIP) process.stderr.write(`vm-arm64 test timings: ${JSON.stringify(timings)}\n`);
});

describe.skipIf(SKIP)(`podman in an arm64 VM${SKIP ? ` (skipped: ${SKIP})` : ''}`, () => {
  it('runs containers rootful, rootless and as a quadlet on an arm64 kernel', async () => {
    const podman = await repoManifest('podman');
    const image = (await findImages(path.join(workspace, 'extensions/podman/dist'), 'podman', 'arm64')).at(-1)!;
    const checks = checksFor('vm', podman.smoke);
    const result = await bootVm({ vm, extensions: { podman: image }, checks: { units: checks.units, commands: ['uname -m', ...checks.commands] }, timeoutMs: 3_000_000 });
    timings.podman = result.durationMs;
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(result.testbed).toMatchObject({ kind: 'vm', arch: 'arm64', accel: 'tcg' });
    expect(result.checks.find((c) => c.name === 'uname -m')?.output).toBe('aarch64');
  }, 3_600_000);
});
