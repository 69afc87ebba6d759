import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBakehouse, scratchWorkspace } from '@bakehouse/fixtures';
import { bootTestbed, ensureTestbedRoot, findImages, flatcarOsRelease, type BootResult, type Checks, type PlacedFile } from './index.js';
import { CONTAINERD_V2_CONFIG, describeFailure, makeBuiltin, output } from './test-support/boot-helpers.js';
import { fixtureWorkspace } from './test-support/fixture-images.js';
import { repoFlatcarVersion, repoManifest } from './test-support/workspace.js';

// Boots real images under systemd 257 as PID 1 (systemd-nspawn), serially. The url-source
// extensions are built from archives holding Debian's real binaries (see debian-upstream.ts).

let work: string;
let workspace: string;
let root: string;
let flatcarVersion: string;
let builtin: string;
let otherBuiltin: string;
const timings: Record<string, number> = {};

async function image(name: string): Promise<string> {
  const images = await findImages(path.join(workspace, 'extensions', name, 'dist'), name, 'x86-64');
  return images[images.length - 1]!;
}

async function boot(name: string, checks: Checks, files: Record<string, PlacedFile> = {}): Promise<BootResult> {
  const result = await bootTestbed({ root, extensions: { [name]: await image(name) }, files, checks, timeoutMs: 120_000 });
  timings[name] = result.durationMs;
  return result;
}


beforeAll(async () => {
  const started = Date.now();
  work = await mkdtemp(path.join(os.tmpdir(), 'testbed-boot-'));
  flatcarVersion = await repoFlatcarVersion();
  root = await ensureTestbedRoot(flatcarVersion);
  timings['(testbed root)'] = Date.now() - started;
  workspace = await fixtureWorkspace(flatcarVersion);
  timings['(fixture images)'] = Date.now() - started - timings['(testbed root)']!;
  builtin = path.join(work, 'containerd-flatcar.raw');
  await makeBuiltin(builtin, 'containerd-flatcar');
  otherBuiltin = path.join(work, 'docker-flatcar.raw');
  await makeBuiltin(otherBuiltin, 'docker-flatcar');
}, 1_800_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  process.stderr.write(`boot test timings: ${JSON.stringify(timings)}\n`);
});

describe('smoke checks under systemd', () => {
  it('containerd: the service is active and ctr reaches the daemon', async () => {
    const { smoke } = await repoManifest('containerd');
    const result = await boot('containerd', smoke, CONTAINERD_V2_CONFIG);
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(result.checks.map((c) => c.name)).toEqual(['containerd.service', 'ctr version']);
    // "Server:" is printed only after a round trip to containerd's socket.
    expect(output(result, 'ctr version')).toMatch(/Server:\s+Version:\s+1\.7\./);
    expect(result.sysext).toMatch(/\/usr\s+containerd/);
  }, 180_000);

  it('docker: docker.socket listens and docker version reaches dockerd', async () => {
    const { smoke } = await repoManifest('docker');
    const result = await boot('docker', smoke, CONTAINERD_V2_CONFIG);
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(result.checks.map((c) => c.name)).toEqual(['docker.socket', 'containerd.service', 'docker version']);
    expect(output(result, 'docker version')).toMatch(/Server:[\s\S]*Engine:[\s\S]*Version:\s+26\.1\./);
  }, 180_000);

  it('podman: the helper finished, policy.json is in place and podman info works', async () => {
    const { smoke } = await repoManifest('podman');
    const result = await boot('podman', smoke);
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(result.checks.map((c) => c.name)).toEqual(['podman-sysext-setup.service', 'test -e /etc/containers/policy.json', 'podman info']);
    expect(output(result, 'podman info')).toMatch(/distribution:\s+distribution: flatcar/);
  }, 180_000);

  it('kubernetes: kubectl runs and kubelet.service is loaded (kubeadm: not packaged in Debian, skipped)', async () => {
    const { smoke } = await repoManifest('kubernetes');
    // kubeadm and kubelet have no Debian package, so the fixture holds stand-ins that cannot run.
    const blocked = ['kubeadm version'];
    expect(smoke.commands).toEqual(expect.arrayContaining(blocked));
    const checks = { units: smoke.units, commands: [...smoke.commands.filter((c) => !blocked.includes(c)), 'systemctl show -p LoadState --value kubelet.service'] };
    const result = await boot('kubernetes', checks);
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(output(result, 'kubectl version --client')).toMatch(/Client Version: v1\.32\./);
    expect(output(result, 'systemctl show -p LoadState --value kubelet.service')).toBe('loaded');
  }, 180_000);

  it('oem-qemu: the unit is loaded and stays inactive without the virtio port', async () => {
    const { smoke } = await repoManifest('oem-qemu');
    const unit = 'qemu-guest-agent.service';
    const checks = { units: smoke.units, commands: [...smoke.commands, `systemctl show -p LoadState,ActiveState ${unit}`] };
    const result = await boot('oem-qemu', checks);
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(output(result, `systemctl show -p LoadState,ActiveState ${unit}`)).toBe('LoadState=loaded\nActiveState=inactive');
  }, 180_000);
});

describe('images systemd-sysext must refuse', () => {
  const merged = (name: string) => `test -e /usr/lib/extension-release.d/extension-release.${name}`;
  // systemd-sysext says why it skips an image only at debug level: merge again, verbosely, after the boot-time merge was checked.
  const SYSEXT_LOG = 'SYSTEMD_LOG_LEVEL=debug systemd-sysext refresh 2>&1';
  // Every boot also carries an acceptable built-in, linked the way Flatcar links its own:
  // it must merge, which shows the refusal is about the image under test alone.
  const control = { '/usr/share/flatcar/sysext/docker-flatcar.raw': () => ({ copy: otherBuiltin }), '/etc/extensions/docker-flatcar.raw': () => ({ symlink: '/usr/share/flatcar/sysext/docker-flatcar.raw' }) };
  const controlFiles = (): Record<string, PlacedFile> => Object.fromEntries(Object.entries(control).map(([k, v]) => [k, v()]));

  it('an arm64 image on x86-64', async () => {
    const arm64 = (await findImages(path.join(workspace, 'extensions/containerd/dist'), 'containerd', 'arm64'))[0]!;
    const result = await bootTestbed({
      root,
      extensions: { containerd: arm64 },
      files: controlFiles(),
      checks: { units: [], commands: [merged('docker-flatcar'), `! ${merged('containerd')}`, '! test -e /usr/bin/containerd', SYSEXT_LOG] },
      timeoutMs: 120_000,
    });
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(output(result, SYSEXT_LOG)).toMatch(/containerd[^\n]*architecture/i);
  }, 180_000);

  it('a VERSION_ID-pinned image on another Flatcar release', async () => {
    const other = '1.2.3';
    const osRelease = Object.entries(flatcarOsRelease(other)).map(([k, v]) => `${k}=${v}\n`).join('');
    const files = { ...controlFiles(), '/usr/lib/os-release': osRelease };
    const checks = { units: [], commands: ['grep -x VERSION_ID=1.2.3 /etc/os-release', merged('docker-flatcar'), `! ${merged('oem-qemu')}`, SYSEXT_LOG] };
    const refused = await bootTestbed({ root, extensions: { 'oem-qemu': await image('oem-qemu') }, files, checks, timeoutMs: 120_000 });
    expect(refused.ok, describeFailure(refused)).toBe(true);
    expect(output(refused, SYSEXT_LOG)).toMatch(/Extension 'oem-qemu' is for OS '[^']+', but deployed on top of '1\.2\.3'/);
  }, 180_000);

  it('a built-in masked with a /dev/null link', async () => {
    const files: Record<string, PlacedFile> = {
      ...controlFiles(),
      '/usr/share/flatcar/sysext/containerd-flatcar.raw': { copy: builtin },
      '/etc/extensions/containerd-flatcar.raw': { symlink: '/dev/null' },
    };
    const checks = { units: [], commands: [merged('docker-flatcar'), `! ${merged('containerd-flatcar')}`, '! test -e /usr/share/containerd-flatcar/marker', 'test -e /usr/share/docker-flatcar/marker'] };
    const result = await bootTestbed({ root, files, checks, timeoutMs: 120_000 });
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(result.sysext).toMatch(/\/usr\s+docker-flatcar/);
    expect(result.sysext).not.toMatch(/containerd-flatcar/);
  }, 180_000);
});

describe('bounds', () => {
  it('reports names verbatim, exit statuses, and a journal excerpt on failure', async () => {
    const quoted = `printf '%s\\n' "it's \\"quoted\\"" ; exit 7`;
    const result = await bootTestbed({ root, checks: { units: ['no-such.service'], commands: ['true', quoted] }, unitWaitSeconds: 2, timeoutMs: 60_000 });
    expect(result.ok).toBe(false);
    expect(result.checks.map((c) => [c.kind, c.name, c.exitCode])).toEqual([['unit', 'no-such.service', 3], ['command', 'true', 0], ['command', quoted, 7]]);
    expect(result.checks[2]!.output).toBe('it\'s "quoted"');
    expect(result.journal).toMatch(/bakehouse-probe/);
  }, 60_000);

  it('kills a run that outlasts its timeout and leaves nothing behind', async () => {
    // A duration no other process on the machine is likely to sleep, to find leftovers by.
    const sleeper = `sleep ${300 + Math.floor(Math.random() * 600)}.${Math.floor(Math.random() * 1000)}`;
    const result = await bootTestbed({ root, checks: { units: [], commands: [sleeper] }, timeoutMs: 8_000 });
    expect(result.ok).toBe(false);
    expect(result.problem).toMatch(/did not finish within 8 s/);
    expect(result.durationMs).toBeLessThan(40_000);
    const { stdout } = await execa('ps', ['-eo', 'args']);
    expect(stdout.split('\n')).not.toContain(sleeper);
    expect(stdout).not.toMatch(/systemd-nspawn.*bakehouse-/);
    const { stdout: mounts } = await execa('cat', ['/proc/self/mountinfo']);
    expect(mounts).not.toMatch(/bakehouse-testbed-/);
    for (let n = 0; n < 8; n++) await expect(execa('test', ['-b', `/dev/loop${n}`])).resolves.toBeTruthy();
  }, 60_000);
});

describe('bakehouse test', () => {
  it('prints a table and exits 0 when every check passes', async () => {
    const result = await runBakehouse(['test', 'podman', '--flatcar-version', flatcarVersion], { cwd: workspace });
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toMatch(/podman-.*-x86-64\.raw.*unit podman-sysext-setup\.service.*ok/);
    expect(result.stdout).toMatch(/command podman info\s+│ ok/);
  }, 180_000);

  it('exits non-zero and shows the failing check with a journal excerpt', async () => {
    // A workspace of its own: the fixture workspace is shared with the VM tests.
    const broken = await scratchWorkspace(['podman']);
    try {
      await cp(path.join(workspace, 'extensions/podman/dist'), path.join(broken, 'extensions/podman/dist'), { recursive: true });
      const manifest = path.join(broken, 'extensions/podman/extension.ts');
      const original = await readFile(manifest, 'utf8');
      await writeFile(manifest, original.replace("commands: ['test -e /etc/containers/policy.json'", "commands: ['test -e /etc/containers/no-such-file'"));
      const result = await runBakehouse(['test', 'podman', '--flatcar-version', flatcarVersion], { cwd: broken });
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toMatch(/command test -e \/etc\/containers\/no-such-file\s+│ FAILED \(1\)/);
      expect(result.stderr).toMatch(/-- journal \(last lines\):[\s\S]*podman-sysext-setup/);
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  }, 180_000);
});
