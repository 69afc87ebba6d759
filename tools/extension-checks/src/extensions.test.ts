import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containerdUpstream,
  dockerUpstream,
  elfArch,
  fixtureBuildEnv,
  kubernetesUpstream,
  mergeSysext,
  readFromImage,
  runBakehouse,
  scratchWorkspace,
  serveDirectory,
  type LoopbackServer,
} from '@bakehouse/fixtures';
import { inspectImage } from '@bakehouse/builder';

const FLATCAR = { ID: 'flatcar', VERSION_ID: '4230.2.1', SYSEXT_LEVEL: '1.0' };
const KUBERNETES = { releases: { '1.36.3': '1.36.0', '1.35.7': '1.35.0' }, cni: '1.9.1' };

let work: string;
let workspace: string;
let upstream: LoopbackServer;
let env: Record<string, string>;
const dist = (name: string, file: string) => path.join(workspace, 'extensions', name, 'dist', file);

/** A unit that runs a missing binary, to show `systemd-analyze verify` would notice one. */
const BROKEN_UNIT = 'mkdir -p "$ROOT/etc/systemd/system" && printf "[Service]\\nExecStart=/usr/bin/not-in-any-image\\n" > "$ROOT/etc/systemd/system/broken.service"';

function verify(units: string[]): string {
  return `${BROKEN_UNIT}; systemd-analyze verify --root="$ROOT" ${units.join(' ')} >/dev/null 2>&1; echo "verify=$?"; systemd-analyze verify --root="$ROOT" broken.service >/dev/null 2>&1; echo "broken=$?"`;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'extension-checks-'));
  const site = path.join(work, 'site');
  upstream = await serveDirectory(site);
  env = await fixtureBuildEnv(work, {
    ...(await containerdUpstream(site, upstream.url)),
    ...(await dockerUpstream(site, upstream.url, '28.5.2')),
    ...(await kubernetesUpstream(site, upstream.url, KUBERNETES)),
  });
  workspace = await scratchWorkspace(['containerd', 'docker', 'kubernetes']);
  const result = await runBakehouse(['build', 'containerd', 'docker', 'kubernetes'], { cwd: workspace, env });
  expect(result.exitCode, result.all).toBe(0);
}, 180_000);

afterAll(async () => {
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
  await rm(workspace, { recursive: true, force: true });
});

describe('docker', () => {
  it('merges with its binaries, and its units pass systemd-analyze verify', async () => {
    const result = await mergeSysext({
      images: { docker: dist('docker', 'docker-28.5.2-x86-64.raw') },
      osRelease: FLATCAR,
      hostUsr: true,
      probe: `"$ROOT/usr/bin/docker" version; ${verify(['docker.service', 'docker.socket', 'containerd.service'])}; cat "$ROOT/usr/lib/systemd/system/docker.socket"`,
    });
    expect(result.listed).toEqual(['docker']);
    expect(result.files).toEqual(
      expect.arrayContaining(['dockerd', 'docker', 'containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'docker-init', 'docker-proxy'].map((b) => `usr/bin/${b}`)),
    );
    expect(result.files).toEqual(
      expect.arrayContaining([
        // Flatcar's names for the Upholds= drop-ins.
        'usr/lib/systemd/system/sockets.target.d/10-docker-socket.conf',
        'usr/lib/systemd/system/multi-user.target.d/10-containerd-service.conf',
        'usr/share/docker/daemon.json',
      ]),
    );
    expect(result.probeOutput).toContain('docker 28.5.2 fixture');
    expect(result.probeOutput).toContain('verify=0');
    expect(result.probeOutput).toContain('broken=1');
    expect(result.probeOutput).toMatch(/ListenStream=\/run\/docker.sock[\s\S]*SocketGroup=docker/);
  });
});

describe('kubernetes', () => {
  it('builds one image per line, each with its own versions', async () => {
    for (const [version, crictl] of Object.entries(KUBERNETES.releases)) {
      const record = JSON.parse(await readFile(dist('kubernetes', `kubernetes-${version}-x86-64.json`), 'utf8'));
      expect(record.line).toBe(version.split('.').slice(0, 2).join('.'));
      expect(Object.fromEntries(record.inputs.map((i: { name: string; version: string }) => [i.name, i.version]))).toEqual({
        kubeadm: version,
        kubelet: version,
        kubectl: version,
        'cni-plugins': KUBERNETES.cni,
        crictl,
      });
    }
  });

  it('merges beside containerd: kubeadm runs, units verify, CNI plugins are linked where containerd looks', async () => {
    const result = await mergeSysext({
      images: { kubernetes: dist('kubernetes', 'kubernetes-1.35.7-x86-64.raw'), containerd: dist('containerd', 'containerd-2.3.4-x86-64.raw') },
      osRelease: FLATCAR,
      hostUsr: true,
      probe: `"$ROOT/usr/bin/kubeadm" version; ${verify(['kubelet.service', 'containerd.service'])}; grep -c "^L /opt/cni/bin/" "$ROOT/usr/lib/tmpfiles.d/kubernetes.conf"`,
    });
    expect(result.listed.sort()).toEqual(['containerd', 'kubernetes']);
    expect(result.files).toEqual(
      expect.arrayContaining(['usr/bin/kubeadm', 'usr/bin/kubelet', 'usr/bin/kubectl', 'usr/bin/crictl', 'usr/libexec/cni/bridge', 'usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf']),
    );
    expect(result.probeOutput).toContain('kubeadm v1.35.7 fixture');
    expect(result.probeOutput).toContain('verify=0');
    expect(result.probeOutput).toContain('broken=1');
    expect(result.probeOutput.trim().split('\n').at(-1)).toBe('18');
  });
});

describe('arm64 images', () => {
  it.each([
    ['docker', 'docker-28.5.2-arm64.raw', '/usr/bin/dockerd'],
    ['kubernetes', 'kubernetes-1.36.3-arm64.raw', '/usr/bin/kubelet'],
    ['kubernetes', 'kubernetes-1.36.3-arm64.raw', '/usr/libexec/cni/bridge'],
  ])('%s carries ARCHITECTURE=arm64 and aarch64 ELF binaries (%s %s)', async (name, image, binary) => {
    const file = dist(name, image);
    expect((await inspectImage(file)).extensionRelease.ARCHITECTURE).toBe('arm64');
    expect(elfArch(await readFromImage(file, binary))).toBe('arm64');
    expect(elfArch(await readFromImage(dist(name, image.replace('arm64', 'x86-64')), binary))).toBe('x86-64');
  });
});

describe('lint across extensions', () => {
  it('passes with the declared conflicts and catches an undeclared overlap between docker and containerd', async () => {
    expect((await runBakehouse(['lint'], { cwd: workspace })).exitCode).toBe(0);
    const manifest = path.join(workspace, 'extensions/docker/extension.ts');
    const original = await readFile(manifest, 'utf8');
    try {
      await writeFile(manifest, original.replace("extensions: ['containerd'], ", ''));
      const result = await runBakehouse(['lint'], { cwd: workspace });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/extensions\/containerd\/extension\.ts: conflicts\.extensions: ships .*\/usr\/bin\/containerd.* like "docker"/);
    } finally {
      await writeFile(manifest, original);
    }
  });

  it('fails when kubernetes requires a runtime nothing can provide', async () => {
    const manifest = path.join(workspace, 'extensions/kubernetes/extension.ts');
    const original = await readFile(manifest, 'utf8');
    try {
      await writeFile(manifest, original.replace("requires: [{ anyOf: ['containerd', 'containerd-flatcar'] }]", "requires: ['cri-o']"));
      const result = await runBakehouse(['lint'], { cwd: workspace });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('extensions/kubernetes/extension.ts: requires[0]: "cri-o" is neither an extension in this workspace nor a Flatcar built-in');
    } finally {
      await writeFile(manifest, original);
    }
  });
});
