import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containerdUpstream,
  CRIO_BUNDLE_BINARIES,
  CNI_PLUGINS,
  dockerUpstream,
  elfArch,
  fixtureBuildEnv,
  mergeSysext,
  readFromImage,
  runBakehouse,
  RUNTIME_VERSIONS,
  runtimesUpstream,
  scratchWorkspace,
  serveDirectory,
  type LoopbackServer,
} from '@bakehouse/fixtures';
import { inspectImage } from '@bakehouse/builder';

// docker compose, docker buildx, nerdctl and cri-o built from stand-ins with upstream's file
// names and layout (tools/fixtures/src/upstream-runtimes.ts): the packaging, for both arches.
// What the tools do is proven in the VM (packages/testbed/src/vm-compose.test.ts) where Debian
// has the real binaries, and by each manifest's smoke.workload on real builds elsewhere.

const FLATCAR = { ID: 'flatcar', VERSION_ID: '4230.2.1', SYSEXT_LEVEL: '1.0' };
const RUNTIMES = ['docker-compose', 'docker-buildx', 'nerdctl', 'cri-o'];
const VERSION: Record<string, string> = {
  'docker-compose': RUNTIME_VERSIONS.compose,
  'docker-buildx': RUNTIME_VERSIONS.buildx,
  nerdctl: RUNTIME_VERSIONS.nerdctl,
  'cri-o': RUNTIME_VERSIONS.crio,
  docker: '28.5.2',
  containerd: '2.3.4',
};
const PLUGINS = '/usr/libexec/docker/cli-plugins';

let work: string;
let workspace: string;
let upstream: LoopbackServer;
const image = (name: string, arch = 'x86-64') => path.join(workspace, 'extensions', name, 'dist', `${name}-${VERSION[name]}-${arch}.raw`);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'runtime-checks-'));
  const site = path.join(work, 'site');
  upstream = await serveDirectory(site);
  const env = await fixtureBuildEnv(work, {
    ...(await runtimesUpstream(site, upstream.url)),
    ...(await containerdUpstream(site, upstream.url)),
    ...(await dockerUpstream(site, upstream.url, VERSION.docker!)),
  });
  workspace = await scratchWorkspace([...RUNTIMES, 'docker', 'containerd', 'kubernetes']);
  // Both arches of the new images; docker and containerd are only merged beside them.
  const runtimes = await runBakehouse(['build', '--quiet', ...RUNTIMES], { cwd: workspace, env });
  expect(runtimes.exitCode, runtimes.all).toBe(0);
  const engines = await runBakehouse(['build', '--quiet', '--arch', 'x86-64', 'docker', 'containerd'], { cwd: workspace, env });
  expect(engines.exitCode, engines.all).toBe(0);
}, 300_000);

afterAll(async () => {
  await upstream?.close();
  if (work) await rm(work, { recursive: true, force: true });
  if (workspace) await rm(workspace, { recursive: true, force: true });
});

describe('docker CLI plugins', () => {
  it('merge beside docker into the directory the docker CLI searches, executable, at the pinned versions', async () => {
    const result = await mergeSysext({
      images: { docker: image('docker'), 'docker-compose': image('docker-compose'), 'docker-buildx': image('docker-buildx') },
      osRelease: FLATCAR,
      hostUsr: true,
      probe: `"$ROOT${PLUGINS}/docker-compose"; "$ROOT${PLUGINS}/docker-buildx"; stat -c '%a %n' "$ROOT${PLUGINS}"/*`,
    });
    expect(result.exitCode, result.log).toBe(0);
    expect(result.listed.sort()).toEqual(['docker', 'docker-buildx', 'docker-compose']);
    expect(result.files).toEqual(expect.arrayContaining([`${PLUGINS}/docker-compose`, `${PLUGINS}/docker-buildx`, 'usr/bin/docker'].map((p) => p.replace(/^\//, ''))));
    expect(result.probeOutput).toContain(`docker-compose ${RUNTIME_VERSIONS.compose} fixture`);
    expect(result.probeOutput).toContain(`docker-buildx ${RUNTIME_VERSIONS.buildx} fixture`);
    expect(result.probeOutput).toMatch(/^755 .*\/docker-buildx$/m);
    expect(result.probeOutput).toMatch(/^755 .*\/docker-compose$/m);
    for (const name of ['docker-compose', 'docker-buildx']) {
      const record = JSON.parse(await readFile(image(name).replace(/\.raw$/, '.json'), 'utf8')) as { inputs: { name: string; version: string }[] };
      expect(record.inputs.map((i) => [i.name, i.version])).toEqual([[name, VERSION[name]]]);
    }
  });

  it('require docker or the built-in docker-flatcar', async () => {
    const graph = await runBakehouse(['list', '--graph'], { cwd: workspace });
    expect(graph.exitCode, graph.all).toBe(0);
    expect(graph.stdout).toMatch(/docker-compose[\s\S]*?requires +docker \| docker-flatcar/);
    expect(graph.stdout).toMatch(/docker-buildx[\s\S]*?requires +docker \| docker-flatcar/);
    expect(graph.stdout).toMatch(/nerdctl[\s\S]*?requires +containerd \| containerd-flatcar/);
  });
});

describe('nerdctl', () => {
  it('merges beside containerd with the rootless helpers of the minimal release', async () => {
    const result = await mergeSysext({
      images: { containerd: image('containerd'), nerdctl: image('nerdctl') },
      osRelease: FLATCAR,
      hostUsr: true,
      probe: '"$ROOT/usr/bin/nerdctl"; "$ROOT/usr/bin/containerd-rootless-setuptool.sh"',
    });
    expect(result.exitCode, result.log).toBe(0);
    expect(result.listed.sort()).toEqual(['containerd', 'nerdctl']);
    expect(result.files).toEqual(expect.arrayContaining(['usr/bin/nerdctl', 'usr/bin/containerd-rootless.sh', 'usr/bin/containerd-rootless-setuptool.sh', 'usr/bin/containerd']));
    expect(result.probeOutput).toContain(`nerdctl ${RUNTIME_VERSIONS.nerdctl} fixture`);
    expect(result.probeOutput).toContain('containerd-rootless-setuptool fixture');
  });
});

describe('cri-o', () => {
  const BROKEN_UNIT = 'mkdir -p "$ROOT/etc/systemd/system" && printf "[Service]\\nExecStart=/usr/bin/not-in-any-image\\n" > "$ROOT/etc/systemd/system/broken.service"';

  it('merges with the bundle laid out under /usr, every path its config names present, and crio.service verifies', async () => {
    const result = await mergeSysext({
      images: { 'cri-o': image('cri-o') },
      osRelease: FLATCAR,
      hostUsr: true,
      probe: [
        '"$ROOT/usr/bin/crio"; "$ROOT/usr/libexec/crio/crun"',
        BROKEN_UNIT,
        'systemd-analyze verify --root="$ROOT" crio.service >/dev/null 2>&1; echo "verify=$?"',
        'systemd-analyze verify --root="$ROOT" broken.service >/dev/null 2>&1; echo "broken=$?"',
        'cat "$ROOT/usr/lib/systemd/system/crio.service"',
      ].join('; '),
    });
    expect(result.exitCode, result.log).toBe(0);
    expect(result.listed).toEqual(['cri-o']);
    const libexec = CRIO_BUNDLE_BINARIES.filter((b) => ['conmon', 'conmonrs', 'crun', 'runc'].includes(b));
    expect(result.files).toEqual(
      expect.arrayContaining([
        'usr/bin/crio',
        'usr/bin/pinns',
        'usr/bin/crictl',
        ...libexec.map((b) => `usr/libexec/crio/${b}`),
        ...CNI_PLUGINS.map((p) => `usr/libexec/crio/cni/${p}`),
        'usr/share/crio/crio.conf',
        'usr/share/crio/policy.json',
        'usr/share/crio/11-crio-ipv4-bridge.conflist',
        'usr/lib/systemd/system/crio.service',
        'usr/lib/systemd/system/multi-user.target.d/10-cri-o-crio.service.conf',
      ]),
    );
    // Private runtimes: nothing of the bundle lands where containerd's or docker's runc lives.
    expect(result.files).not.toContain('usr/bin/runc');
    expect(result.files).not.toContain('usr/bin/crio-credential-provider');
    expect(result.probeOutput).toContain(`crio ${RUNTIME_VERSIONS.crio} fixture`);
    expect(result.probeOutput).toContain(`crun ${RUNTIME_VERSIONS.crio} fixture`);
    expect(result.probeOutput).toContain('verify=0');
    expect(result.probeOutput).toContain('broken=1');
    expect(result.probeOutput).toMatch(/^ExecStart=\/usr\/bin\/crio \$CRIO_CONFIG_OPTIONS/m);
    expect(result.probeOutput).toMatch(/^Environment=.*CRIO_CONFIG_OPTIONS=--config=\/usr\/share\/crio\/crio\.conf/m);

    // Every absolute path the default config points cri-o at is in the image.
    const config = (await readFromImage(image('cri-o'), '/usr/share/crio/crio.conf')).toString();
    const named = [...config.matchAll(/^\s*(runtime_path|monitor_path|pinns_path|signature_policy)\s*=\s*"([^"]+)"/gm)].map((m) => m[2]!);
    expect(named.length).toBe(6);
    for (const p of named) expect(result.files).toContain(p.replace(/^\//, ''));
    expect(config).toMatch(/^default_runtime = "crun"$/m);
    expect(config).toMatch(/^plugin_dirs = \[.*"\/usr\/libexec\/crio\/cni"\]$/m);
  });

  it('merges beside containerd, whose /usr/bin/runc stays containerd\'s', async () => {
    const result = await mergeSysext({
      images: { 'cri-o': image('cri-o'), containerd: image('containerd') },
      osRelease: FLATCAR,
      hostUsr: true,
      probe: '"$ROOT/usr/bin/runc"; "$ROOT/usr/libexec/crio/runc"',
    });
    expect(result.exitCode, result.log).toBe(0);
    expect(result.listed.sort()).toEqual(['containerd', 'cri-o']);
    expect(result.probeOutput).toMatch(/runc 1\.4\.3 fixture\n[\s\S]*runc 1\.36\.3 fixture/);
  });
});

describe('arm64 images', () => {
  it.each([
    ['docker-compose', `${PLUGINS}/docker-compose`],
    ['docker-buildx', `${PLUGINS}/docker-buildx`],
    ['nerdctl', '/usr/bin/nerdctl'],
    ['cri-o', '/usr/bin/crio'],
    ['cri-o', '/usr/libexec/crio/conmon'],
    ['cri-o', '/usr/libexec/crio/cni/bridge'],
  ])('%s carries ARCHITECTURE=arm64 and an aarch64 %s', async (name, binary) => {
    expect((await inspectImage(image(name, 'arm64'))).extensionRelease.ARCHITECTURE).toBe('arm64');
    expect(elfArch(await readFromImage(image(name, 'arm64'), binary))).toBe('arm64');
    expect(elfArch(await readFromImage(image(name, 'x86-64'), binary))).toBe('x86-64');
  });
});

describe('lint', () => {
  it('passes with cri-o\'s declared conflict and names the crictl it shares with kubernetes once the conflict is dropped', async () => {
    const manifest = path.join(workspace, 'extensions/cri-o/extension.ts');
    const original = await readFile(manifest, 'utf8');
    // k3s is not copied into this workspace: a conflict may only name extensions that are.
    const declared = "conflicts: { extensions: ['kubernetes', 'k3s'] }";
    expect(original).toContain(declared);
    try {
      await writeFile(manifest, original.replace(declared, "conflicts: { extensions: ['kubernetes'] }"));
      const ok = await runBakehouse(['lint'], { cwd: workspace });
      expect(ok.exitCode, ok.all).toBe(0);
      await writeFile(manifest, original.replace(declared, 'conflicts: { extensions: [] }'));
      const result = await runBakehouse(['lint'], { cwd: workspace });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/conflicts\.extensions: ships .*\/usr\/bin\/crictl.* like "(kubernetes|cri-o)"/);
    } finally {
      await writeFile(manifest, original);
    }
  });
});
