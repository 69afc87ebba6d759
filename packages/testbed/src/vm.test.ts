import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExtension, defaultCacheDir, readGpt } from '@bakehouse/builder';
import { runBakehouse } from '@bakehouse/fixtures';
import { parseExtension } from '@bakehouse/schema';
import { bootVm, checksFor, ensureVmRoot, findImages, findKernel, type BootResult, type PlacedFile, type VmRoot } from './index.js';
import { CONTAINERD_V2_CONFIG, describeFailure, makeBuiltin, output } from './test-support/boot-helpers.js';
import { fixtureWorkspace } from './test-support/fixture-images.js';
import { repoFlatcarVersion, repoManifest } from './test-support/workspace.js';

// Boots images under a real kernel (Debian trixie's, in qemu: KVM where it works, else TCG)
// and runs what the extensions are for: containers, published ports, rootless podman,
// quadlets, the guest agent, signed images under an enforcing image policy.

let vm: VmRoot;
let workspace: string;
let flatcarVersion: string;
let work: string;
const timings: Record<string, number> = {};

async function image(name: string): Promise<string> {
  return (await findImages(path.join(workspace, 'extensions', name, 'dist'), name, 'x86-64')).at(-1)!;
}

function timed(label: string, result: BootResult): BootResult {
  timings[label] = result.durationMs;
  return result;
}

beforeAll(async () => {
  const started = Date.now();
  work = await mkdtemp(path.join(os.tmpdir(), 'testbed-vm-'));
  flatcarVersion = await repoFlatcarVersion();
  vm = await ensureVmRoot(flatcarVersion);
  timings['(vm root)'] = Date.now() - started;
  workspace = await fixtureWorkspace(flatcarVersion);
  timings['(fixture images)'] = Date.now() - started - timings['(vm root)']!;
}, 1_800_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  process.stderr.write(`vm test timings: ${JSON.stringify(timings)}\n`);
});

describe('workloads under a real kernel', () => {
  it('containerd runs a container, kubernetes reaches its CRI plugin, qemu-ga starts on its port', async () => {
    const containerd = await repoManifest('containerd');
    const kubernetes = await repoManifest('kubernetes');
    const oem = await repoManifest('oem-qemu');
    // kubeadm, kubelet and crictl have no Debian package: the fixture holds stand-ins (see debian-upstream.ts).
    const standIns = ['kubeadm version'];
    const k8s = checksFor('vm', kubernetes.smoke);
    const checks = {
      units: [...checksFor('vm', containerd.smoke).units, ...k8s.units, ...checksFor('vm', oem.smoke).units],
      commands: [
        'stat -fc %T /sys/fs/cgroup',
        ...checksFor('vm', containerd.smoke).commands,
        ...k8s.commands.filter((c) => !standIns.includes(c) && !c.startsWith('crictl')),
        // crictl's stand-in cannot run; containerd's own client shows the CRI plugin crictl would talk to.
        'ctr plugins ls | grep -E "io.containerd.grpc.v1 +cri +.* +ok"',
        'systemctl show -p LoadState --value kubelet.service',
      ],
    };
    const result = timed(
      'containerd+kubernetes+oem-qemu',
      await bootVm({ vm, extensions: { containerd: await image('containerd'), kubernetes: await image('kubernetes'), 'oem-qemu': await image('oem-qemu') }, files: CONTAINERD_V2_CONFIG, ports: oem.smoke.workload.ports, checks }),
    );
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(result.testbed).toMatchObject({ kind: 'vm', kernel: vm.kernelRelease });
    expect(output(result, 'stat -fc %T /sys/fs/cgroup')).toBe('cgroup2fs');
    expect(containerd.smoke.workload.commands.some((c) => c.includes('ctr run'))).toBe(true);
    expect(kubernetes.smoke.workload.commands.some((c) => c.startsWith('crictl'))).toBe(true);
    expect(oem.smoke.workload.units).toContain('qemu-guest-agent.service');
    expect(output(result, 'systemctl show -p LoadState --value kubelet.service')).toBe('loaded');
  }, 900_000);

  it('docker runs, publishes a port, socket-activates, keeps containers over a containerd restart; a masked built-in stays out; qemu-ga stays stopped without its port', async () => {
    const docker = await repoManifest('docker');
    const files: Record<string, PlacedFile> = {
      ...CONTAINERD_V2_CONFIG,
      '/usr/share/flatcar/sysext/docker-flatcar.raw': { copy: path.join(work, 'docker-flatcar.raw') },
      '/etc/extensions/docker-flatcar.raw': { symlink: '/dev/null' },
    };
    await makeBuiltin(path.join(work, 'docker-flatcar.raw'), 'docker-flatcar');
    const checks = checksFor('vm', docker.smoke);
    const socketOnly = '! systemctl is-active docker.service';
    const agent = 'systemctl show -p LoadState,ActiveState qemu-guest-agent.service';
    const result = timed(
      'docker',
      await bootVm({
        vm,
        extensions: { docker: await image('docker'), 'oem-qemu': await image('oem-qemu') },
        files,
        // Before anything talks to dockerd, only its socket is up.
        checks: { units: checks.units, commands: [socketOnly, ...checks.commands, '! test -e /usr/share/docker-flatcar/marker', agent] },
      }),
    );
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(docker.smoke.workload.commands.join('\n')).toMatch(/docker run --rm[\s\S]*-p 127\.0\.0\.1:8080:80[\s\S]*systemctl restart containerd/);
    expect(result.sysext).toMatch(/docker/);
    expect(result.sysext).not.toMatch(/docker-flatcar/);
    expect(output(result, agent)).toBe('LoadState=loaded\nActiveState=inactive');
  }, 900_000);
});

describe('bakehouse test --vm', () => {
  it('runs podman rootful, rootless and as a quadlet, and prints the table', async () => {
    const started = Date.now();
    const result = await runBakehouse(['test', '--vm', 'podman', '--flatcar-version', flatcarVersion], { cwd: workspace });
    timings['podman (bakehouse test --vm)'] = Date.now() - started;
    expect(result.exitCode, result.all).toBe(0);
    const podman = await repoManifest('podman');
    for (const command of podman.smoke.workload.commands) expect(result.stdout).toContain(command.slice(0, 40));
    expect(result.stdout).toMatch(/podman-.*-x86-64\.raw.*command test "\$\(podman run --rm .*│ ok/);
    expect(result.stdout).toMatch(/command cd \/tmp && runuser -u tester .*│ ok/);
    expect(podman.smoke.workload.commands.join('\n')).toMatch(/runuser -u tester[\s\S]*\.container/);
  }, 900_000);
});

describe('signed images under an enforcing image policy', () => {
  const POLICY = 'root=verity+signed+absent:usr=verity+signed+absent';
  const marker = '/usr/share/signed-demo/payload';

  async function signedImage(): Promise<{ signed: string; tampered: string; unsigned: string; cert: string }> {
    const keyFile = path.join(work, 'verity.key');
    const cert = path.join(work, 'verity.crt');
    await execa('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', cert, '-days', '3650', '-subj', '/CN=bakehouse vm test']);
    const extDir = path.join(work, 'signed-demo');
    // Incompressible, so any byte in the middle of the data partition belongs to this file.
    await mkdir(path.join(extDir, 'files/usr/share/signed-demo'), { recursive: true });
    await writeFile(path.join(extDir, 'files', marker), (await execa('openssl', ['rand', '4194304'], { encoding: 'buffer', stripFinalNewline: false })).stdout);
    const manifest = parseExtension({ name: 'signed-demo', description: 'demo', homepage: 'https://example.org', arch: ['x86-64'] }, path.join(extDir, 'extension.ts'));
    const lock = { lockVersion: 1 as const, images: [{ version: '1.0', inputs: {} }] };
    const fetch = { cacheDir: defaultCacheDir() };
    const [signed] = await buildExtension(manifest, lock, extDir, { arches: ['x86-64'], distDir: path.join(work, 'signed'), fetch, signing: { key: keyFile, cert } });
    const [unsigned] = await buildExtension(manifest, lock, extDir, { arches: ['x86-64'], distDir: path.join(work, 'unsigned'), fetch });
    const tampered = path.join(work, 'tampered.raw');
    const bytes = await readFile(signed!.imagePath);
    const data = (await readGpt(signed!.imagePath)).reduce((a, b) => (b.size > a.size ? b : a));
    const at = data.offset + Math.floor(data.size / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    await writeFile(tampered, bytes);
    return { signed: signed!.imagePath, tampered, unsigned: unsigned!.imagePath, cert };
  }

  it('merges a signed DDI with its certificate, and refuses it without one, tampered, or unsigned', async () => {
    const { signed, tampered, unsigned, cert } = await signedImage();
    const merge = `systemd-sysext merge --image-policy=${POLICY}`;
    const use = (file: string) => `ln -sfn ${file} /etc/extensions/signed-demo.raw`;
    const files: Record<string, PlacedFile> = {
      '/etc/verity.d/bakehouse.crt': { copy: cert },
      '/etc/systemd/system/systemd-sysext.service.d/10-image-policy.conf': `[Service]\nExecStart=\nExecStart=systemd-sysext refresh --image-policy=${POLICY}\n`,
      '/var/lib/bakehouse-test/tampered.raw': { copy: tampered },
      '/var/lib/bakehouse-test/unsigned.raw': { copy: unsigned },
    };
    const checks = {
      units: ['systemd-sysext.service'],
      commands: [
        // The boot-time merge, under the policy: dm-verity devices back the merged /usr.
        `test -s ${marker}`,
        'ls /dev/mapper',
        // A refused merge leaves the previous one in place, so each refusal starts unmerged.
        `systemd-sysext unmerge && mv /etc/verity.d/bakehouse.crt /root/ && ! ${merge}; ! test -e ${marker}`,
        `mv /root/bakehouse.crt /etc/verity.d/ && ${merge} && test -s ${marker}`,
        `systemd-sysext unmerge && ${use('/var/lib/bakehouse-test/tampered.raw')} && { ${merge} && cat ${marker} > /dev/null; test $? -ne 0; }`,
        `systemd-sysext unmerge; ${use('/var/lib/bakehouse-test/unsigned.raw')} && ! ${merge}; ! test -e ${marker}`,
        // The same unsigned image merges without the policy: it was refused for the policy alone.
        `systemd-sysext merge && test -s ${marker}`,
      ],
    };
    const result = timed('signed DDI', await bootVm({ vm, extensions: { 'signed-demo': signed }, files, checks }));
    expect(result.ok, describeFailure(result)).toBe(true);
    // systemd-sysext set the image up as a dm-verity device (named after its root hash).
    expect(output(result, 'ls /dev/mapper')).toMatch(/^[0-9a-f]{64}-verity$/m);
    // Without its certificate the kernel refuses the signature and systemd has nothing to verify it with in userspace.
    expect(result.checks[3]!.output).toMatch(/Required key not available|signature/i);
    expect(result.checks[6]!.output).toMatch(/does not match image policy/);
  }, 900_000);
});

describe('bounds', () => {
  it('reports a guest that never reaches the probe as a timeout with its last console lines, and leaves no qemu behind', async () => {
    const name = `bakehouse-bounds-${process.pid}-${Date.now()}`;
    const result = await bootVm({ vm, checks: { units: [], commands: ['true'] }, timeoutMs: 15_000, name });
    expect(result.ok).toBe(false);
    expect(result.problem).toMatch(/did not finish within 15 s and was killed; last console lines:\n[\s\S]*\S/);
    const { stdout } = await execa('ps', ['-eo', 'args']);
    expect(stdout).not.toContain(name);
  }, 900_000);

  it('names what to install or pass: a root without a kernel, a disk too small', async () => {
    const empty = await mkdtemp(path.join(work, 'no-kernel-'));
    await expect(findKernel(empty)).rejects.toThrow(/no kernel with an initramfs in .*\/boot: the VM root needs linux-image-\* and initramfs-tools/);
    // A cached disk of this size (left by an earlier run) would be refused by the free-space check instead.
    await rm(`${vm.root}.disk-1024M.img`, { force: true });
    await expect(bootVm({ vm, checks: { units: [], commands: [] }, diskSizeMiB: 1024 })).rejects.toThrow(/VM disk of 1024 MiB is too small .*: pass --vm-disk-size \d+/);
    await expect(stat(`${vm.root}.disk-1024M.img`)).rejects.toThrow();
  }, 120_000);
});

describe('the test image', () => {
  it('is the same bytes for the same busybox', async () => {
    const { writeTestImage } = await import('./vm/test-image.js');
    const a = path.join(work, 'a.tar');
    const b = path.join(work, 'b.tar');
    await writeTestImage(path.join(vm.root, 'usr/bin/busybox'), a);
    await writeTestImage(path.join(vm.root, 'usr/bin/busybox'), b);
    expect(Buffer.compare(await readFile(a), await readFile(b))).toBe(0);
    const { stdout } = await execa('tar', ['-tf', a]);
    expect(stdout.split('\n')).toEqual(expect.arrayContaining(['index.json', 'manifest.json', 'oci-layout']));
  });
});
