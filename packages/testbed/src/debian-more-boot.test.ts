import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir } from '@bakehouse/builder';
import { runBakehouse, scratchWorkspace } from '@bakehouse/fixtures';
import { bootTestbed, bootVm, checksFor, ensureTestbedRoot, ensureVmRoot, findImages } from './index.js';
import { describeFailure, output } from './test-support/boot-helpers.js';
import { repoFlatcarVersion, repoManifest } from './test-support/workspace.js';

// btop, nebula and incus, built from their Debian trixie pins, doing their jobs: btop and
// nebula together in one nspawn boot (neither needs more than the host's kernel and a tun
// device), incus in one VM boot (system containers need cgroup v2, user namespaces and a
// bridge). Each boot runs exactly its manifests' smoke checks, as `bakehouse test` does.

let work: string;
let workspace: string;
let flatcarVersion: string;
const timings: Record<string, number> = {};

async function image(name: string): Promise<string> {
  return (await findImages(path.join(workspace, 'extensions', name, 'dist'), name, 'x86-64')).at(-1)!;
}

beforeAll(async () => {
  const started = Date.now();
  work = await mkdtemp(path.join(os.tmpdir(), 'debian-more-boot-'));
  flatcarVersion = await repoFlatcarVersion();
  workspace = await scratchWorkspace(['btop', 'nebula', 'incus']);
  // The download cache is content-addressed: sharing the user's saves downloading the closures again.
  const build = await runBakehouse(['build', '--arch', 'x86-64', '--compression', 'gzip', '--quiet', 'btop', 'nebula', 'incus'], { cwd: workspace, env: { BAKEHOUSE_CACHE_DIR: defaultCacheDir() } });
  expect(build.exitCode, build.all).toBe(0);
  timings['(images)'] = Date.now() - started;
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  if (workspace) await rm(workspace, { recursive: true, force: true });
  process.stderr.write(`debian-more boot timings: ${JSON.stringify(timings)}\n`);
});

describe('btop and nebula in one nspawn boot', () => {
  it('btop draws the process list with a known process; nebula makes its PKI, passes -test and brings up its lighthouse', async () => {
    const started = Date.now();
    const root = await ensureTestbedRoot(flatcarVersion);
    timings['(testbed root)'] = Date.now() - started;
    const btop = checksFor('nspawn', (await repoManifest('btop')).smoke);
    const nebula = checksFor('nspawn', (await repoManifest('nebula')).smoke);
    const result = await bootTestbed({
      root,
      extensions: { btop: await image('btop'), nebula: await image('nebula') },
      checks: { units: [...btop.units, ...nebula.units], commands: [...btop.commands, ...nebula.commands] },
      timeoutMs: 180_000,
    });
    timings['btop+nebula (nspawn)'] = result.durationMs;
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(result.checks.map((c) => c.name)).toEqual([...btop.commands, ...nebula.commands]);
    // btop's check counts the lines of its screen that name the marker process.
    const render = btop.commands.find((c) => c.includes('script -qec'))!;
    expect(Number(output(result, render))).toBeGreaterThan(0);
    expect(nebula.commands.some((c) => c.startsWith('systemctl start nebula.service'))).toBe(true);
    expect(result.sysext).toMatch(/btop/);
    expect(result.sysext).toMatch(/nebula/);
  }, 900_000);
});

describe('incus in one VM boot', () => {
  it('incus admin init --minimal makes the pool and bridge, and a system container launches from a locally built image', async () => {
    const started = Date.now();
    const vm = await ensureVmRoot(flatcarVersion);
    timings['(vm root)'] = Date.now() - started;
    const incus = await repoManifest('incus');
    const checks = checksFor('vm', incus.smoke);
    // Under TCG on a loaded machine incusd's first start and an image import each took over the default 180 s a command.
    const result = await bootVm({ vm, extensions: { incus: await image('incus') }, checks, ports: incus.smoke.workload.ports, timeoutMs: 1_500_000, commandTimeoutSeconds: 600 });
    timings['incus (vm)'] = result.durationMs;
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(result.testbed).toMatchObject({ kind: 'vm', kernel: vm.kernelRelease });
    const imported = incus.smoke.workload.commands.find((c) => c.startsWith('incus image import'))!;
    expect(output(result, imported)).toContain('bakehouse-busybox');
    const launched = incus.smoke.workload.commands.find((c) => c.startsWith('incus launch'))!;
    expect(result.checks.find((c) => c.name === launched)?.ok).toBe(true);
  }, 2_400_000);
});
