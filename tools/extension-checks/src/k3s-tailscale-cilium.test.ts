import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  elfArch,
  fixtureBuildEnv,
  K3S_TAILSCALE_CILIUM,
  k3sTailscaleCiliumUpstream,
  mergeSysext,
  readFromImage,
  runBakehouse,
  scratchWorkspace,
  serveDirectory,
  type LoopbackServer,
} from '@bakehouse/fixtures';
import { inspectImage } from '@bakehouse/builder';

/**
 * k3s, tailscale and the Cilium CLI are built from stand-ins with upstream's exact names and layout
 * (no real binary can be had here): these checks prove the packaging. The workloads their manifests
 * declare run on real builds (`bakehouse test`, `bakehouse test --vm`).
 */
const FLATCAR = { ID: 'flatcar', VERSION_ID: '4230.2.1', SYSEXT_LEVEL: '1.0' };
const V = K3S_TAILSCALE_CILIUM;
const IMAGES = { k3s: `k3s-${V.k3s}`, tailscale: `tailscale-${V.tailscale}`, cilium: `cilium-${V.cilium}` } as const;
type Name = keyof typeof IMAGES;
const BINARIES: [Name, string][] = [
  ['k3s', '/usr/bin/k3s'],
  ['tailscale', '/usr/bin/tailscale'],
  ['tailscale', '/usr/bin/tailscaled'],
  ['cilium', '/usr/bin/cilium'],
];

let work: string;
let workspace: string;
let upstream: LoopbackServer;
const image = (name: Name, arch: 'x86-64' | 'arm64') => path.join(workspace, 'extensions', name, 'dist', `${IMAGES[name]}-${arch}.raw`);
const images = (arch: 'x86-64' | 'arm64') => Object.fromEntries((Object.keys(IMAGES) as Name[]).map((name) => [name, image(name, arch)]));

/** A unit that runs a missing binary, to show `systemd-analyze verify` would notice one. */
const BROKEN_UNIT = 'mkdir -p "$ROOT/etc/systemd/system" && printf "[Service]\\nExecStart=/usr/bin/not-in-any-image\\n" > "$ROOT/etc/systemd/system/broken.service"';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'k3s-tailscale-cilium-'));
  const site = path.join(work, 'site');
  upstream = await serveDirectory(site);
  const env = await fixtureBuildEnv(work, await k3sTailscaleCiliumUpstream(site, upstream.url));
  // kubernetes (with the containerd it requires) only for lint: k3s shares paths with it.
  workspace = await scratchWorkspace(['k3s', 'tailscale', 'cilium', 'kubernetes', 'containerd']);
  const result = await runBakehouse(['build', 'k3s', 'tailscale', 'cilium'], { cwd: workspace, env });
  expect(result.exitCode, result.all).toBe(0);
}, 240_000);

afterAll(async () => {
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
  await rm(workspace, { recursive: true, force: true });
});

describe('images for x86-64 and arm64', () => {
  it.each(BINARIES)('%s carries %s as an ELF binary of each arch, and ARCHITECTURE says which', async (name, binary) => {
    for (const arch of ['x86-64', 'arm64'] as const) {
      expect((await inspectImage(image(name, arch))).extensionRelease.ARCHITECTURE).toBe(arch);
      expect(elfArch(await readFromImage(image(name, arch), binary))).toBe(arch);
    }
  });

  it("names k3s' image and records its version with the +k3s1 build number", async () => {
    const record = JSON.parse(await readFile(path.join(workspace, 'extensions/k3s/dist', `${IMAGES.k3s}-arm64.json`), 'utf8'));
    expect(record.inputs).toEqual([expect.objectContaining({ name: 'k3s', version: '1.35.0+k3s1' })]);
    expect((await inspectImage(image('k3s', 'x86-64'))).extensionRelease.SYSEXT_LEVEL).toBe('1.0');
  });
});

describe('merged together', () => {
  it('merge with the host systemd: units verify with their binaries present, the k3s links resolve, nothing lands in /usr/sbin', async () => {
    const result = await mergeSysext({
      images: images('x86-64'),
      osRelease: FLATCAR,
      hostUsr: true,
      probe: [
        BROKEN_UNIT,
        'systemd-analyze verify --root="$ROOT" k3s.service tailscaled.service >/dev/null 2>&1; echo "verify=$?"',
        'systemd-analyze verify --root="$ROOT" broken.service >/dev/null 2>&1; echo "broken=$?"',
        'for link in kubectl crictl; do echo "$link -> $(readlink "$ROOT/usr/bin/$link") $(readlink -f "$ROOT/usr/bin/$link" | sed "s|^$ROOT||")"; done',
        '"$ROOT/usr/bin/kubectl"; "$ROOT/usr/bin/tailscaled"; "$ROOT/usr/bin/cilium"',
        'grep -h "^ExecStart=\\|^EnvironmentFile=\\|^Type=\\|^KillMode=\\|^Delegate=" "$ROOT/usr/lib/systemd/system/k3s.service" "$ROOT/usr/lib/systemd/system/tailscaled.service"',
        'cat "$ROOT/usr/share/tailscale/tailscaled.defaults"',
      ].join('; '),
    });
    expect(result.exitCode, result.log).toBe(0);
    expect(result.listed.sort()).toEqual(['cilium', 'k3s', 'tailscale']);
    expect(result.files).toEqual(
      expect.arrayContaining([
        'usr/bin/k3s',
        'usr/bin/kubectl',
        'usr/bin/crictl',
        'usr/bin/tailscale',
        'usr/bin/tailscaled',
        'usr/bin/cilium',
        'usr/share/tailscale/tailscaled.defaults',
        'usr/lib/systemd/system/k3s.service',
        'usr/lib/systemd/system/tailscaled.service',
        'usr/lib/systemd/system/multi-user.target.d/10-k3s-k3s.service.conf',
        'usr/lib/systemd/system/multi-user.target.d/10-tailscale-tailscaled.service.conf',
      ]),
    );
    // Flatcar's containerd (and the containerd extension) ship /usr/bin/ctr, so k3s' installer would skip that link too.
    expect(result.files).not.toContain('usr/bin/ctr');
    expect(result.files.filter((file) => file === 'usr/sbin' || file.startsWith('usr/sbin/'))).toEqual([]);

    const out = result.probeOutput;
    expect(out).toContain('verify=0');
    expect(out).toContain('broken=1');
    expect(out).toContain('kubectl -> k3s /usr/bin/k3s');
    expect(out).toContain('crictl -> k3s /usr/bin/k3s');
    expect(out).toContain(`k3s version v${V.k3s} fixture`);
    expect(out).toContain(`tailscaled ${V.tailscale} fixture`);
    expect(out).toContain(`cilium-cli: v${V.cilium} fixture`);
    expect(out).toContain('ExecStart=/usr/bin/k3s server');
    expect(out).toMatch(/Type=notify[\s\S]*EnvironmentFile=-\/etc\/systemd\/system\/k3s\.service\.env[\s\S]*KillMode=process[\s\S]*Delegate=yes/);
    expect(out).toContain('ExecStart=/usr/bin/tailscaled --state=/var/lib/tailscale/tailscaled.state --socket=/run/tailscale/tailscaled.sock --port=${PORT} $FLAGS');
    // Upstream's defaults first, the operator's /etc/default/tailscaled over them.
    expect(out).toMatch(/EnvironmentFile=\/usr\/share\/tailscale\/tailscaled\.defaults\nEnvironmentFile=-\/etc\/default\/tailscaled/);
    expect(out).toContain('PORT="41641"');
  });

  it('the arm64 images merge too (forced past the host arch), with the same links', async () => {
    const result = await mergeSysext({
      images: images('arm64'),
      osRelease: FLATCAR,
      hostUsr: true,
      force: true,
      probe: 'readlink "$ROOT/usr/bin/kubectl"; readlink "$ROOT/usr/bin/crictl"; test -f "$ROOT/usr/bin/k3s" && echo k3s-present',
    });
    expect(result.exitCode, result.log).toBe(0);
    expect(result.listed.sort()).toEqual(['cilium', 'k3s', 'tailscale']);
    expect(result.probeOutput.split('\n')).toEqual(['k3s', 'k3s', 'k3s-present']);
    expect(result.files.filter((file) => file.startsWith('usr/sbin'))).toEqual([]);
  });
});

describe('lint', () => {
  it('passes with the declared conflict, and names the shared path when k3s no longer declares it', async () => {
    expect((await runBakehouse(['lint'], { cwd: workspace })).exitCode).toBe(0);
    const manifest = path.join(workspace, 'extensions/k3s/extension.ts');
    const original = await readFile(manifest, 'utf8');
    try {
      await writeFile(manifest, original.replace("conflicts: { extensions: ['kubernetes'] },", ''));
      const result = await runBakehouse(['lint'], { cwd: workspace });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/conflicts\.extensions: ships .*\/usr\/bin\/(kubectl|crictl)/);
    } finally {
      await writeFile(manifest, original);
    }
  });
});
