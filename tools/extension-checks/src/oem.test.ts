import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeSysext, runBakehouse, scratchWorkspace } from '@bakehouse/fixtures';
import { inspectImage, readRecord } from '@bakehouse/builder';

/** The OEM family is data only: both manifests go through the same builder path, from the real Debian archive. */
const FLATCAR = { ID: 'flatcar', VERSION_ID: '4230.2.1' };

let work: string;
let workspace: string;
let qemuImage: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'oem-check-'));
  workspace = await scratchWorkspace(['oem-qemu', 'oem-hyperv']);
  const result = await runBakehouse(['build', 'oem-qemu', 'oem-hyperv', '--arch', 'x86-64', '--flatcar-version', FLATCAR.VERSION_ID], {
    cwd: workspace,
    env: { BAKEHOUSE_CACHE_DIR: path.join(work, 'cache'), BAKEHOUSE_COMPRESSION: 'gzip' },
  });
  expect(result.exitCode, result.all).toBe(0);
  const record = (await readFile(path.join(workspace, 'extensions/oem-qemu/dist/SHA256SUMS'), 'utf8')).split(/\s+/)[1]!;
  qemuImage = path.join(workspace, 'extensions/oem-qemu/dist', record);
}, 300_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await rm(workspace, { recursive: true, force: true });
});

describe('OEM extensions', () => {
  it('pin VERSION_ID and carry the SYSEXT_* metadata and oem-release', async () => {
    for (const name of ['oem-qemu', 'oem-hyperv']) {
      const dist = path.join(workspace, 'extensions', name, 'dist');
      const file = (await readFile(path.join(dist, 'SHA256SUMS'), 'utf8')).split(/\s+/)[1]!;
      const info = await inspectImage(path.join(dist, file));
      expect(info.extensionRelease).toMatchObject({ ID: 'flatcar', VERSION_ID: FLATCAR.VERSION_ID, ARCHITECTURE: 'x86-64', SYSEXT_ID: name, SYSEXT_VERSION_ID: FLATCAR.VERSION_ID });
      expect(info.extensionRelease.SYSEXT_LEVEL).toBeUndefined();
      expect(info.files).toContainEqual(expect.objectContaining({ path: `/usr/share/oem/${name}/oem-release` }));
      const record = await readRecord(path.join(dist, file.replace(/\.raw$/, '.json')));
      expect(record.debian?.length).toBeGreaterThan(0);
    }
  });

  it('oem-qemu merges only into its Flatcar release; its unit verifies and keeps the virtio-port condition', async () => {
    const ok = await mergeSysext({
      images: { 'oem-qemu': qemuImage },
      osRelease: FLATCAR,
      hostUsr: true,
      probe: 'systemd-analyze verify --root="$ROOT" qemu-guest-agent.service >/dev/null 2>&1; echo "verify=$?"; grep -h "^Condition" "$ROOT/usr/lib/systemd/system/qemu-guest-agent.service"',
    });
    expect(ok.listed).toEqual(['oem-qemu']);
    expect(ok.files).toContain('usr/bin/qemu-ga');
    expect(ok.probeOutput).toContain('verify=0');
    expect(ok.probeOutput).toContain('ConditionPathExists=/dev/virtio-ports/org.qemu.guest_agent.0');
    const other = await mergeSysext({ images: { 'oem-qemu': qemuImage }, osRelease: { ...FLATCAR, VERSION_ID: '4230.3.0' } });
    expect(other.files).not.toContain('usr/bin/qemu-ga');
  });

  it('refuses to build a release-pinned image without a target release', async () => {
    const result = await runBakehouse(['build', 'oem-qemu', '--arch', 'x86-64'], { cwd: workspace, env: { BAKEHOUSE_CACHE_DIR: path.join(work, 'cache'), BAKEHOUSE_COMPRESSION: 'gzip' } });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('oem-qemu is pinned to a Flatcar release');
    expect(result.stderr).toContain('flatcar.json');
  });

  it('lint requires the Turbo wiring that makes flatcar.json a build input', async () => {
    expect((await runBakehouse(['lint'], { cwd: workspace })).exitCode).toBe(0);
    await rm(path.join(workspace, 'extensions/oem-hyperv/turbo.json'));
    const result = await runBakehouse(['lint'], { cwd: workspace });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('extensions/oem-hyperv/extension.ts: release.compat: a release-pinned extension needs a turbo.json');
  });
});
