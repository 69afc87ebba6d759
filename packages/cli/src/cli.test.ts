import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerdUpstream, mergeSysext, REPO_ROOT, scratchWorkspace, serveDirectory, type LoopbackServer } from '@bakehouse/fixtures';

const BIN = path.join(REPO_ROOT, 'packages/cli/bin/bakehouse.js');
const FLATCAR = { ID: 'flatcar', VERSION_ID: '4230.2.1', SYSEXT_LEVEL: '1.0' };

let work: string;
let workspace: string;
let upstream: LoopbackServer;
let sourcesFile: string;

function bakehouse(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  return execa(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? workspace,
    env: { BAKEHOUSE_CACHE_DIR: path.join(work, 'cache'), BAKEHOUSE_SOURCES: sourcesFile, CI: '1', ...options.env },
    extendEnv: true,
    reject: false,
    all: true,
  });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'cli-test-'));
  upstream = await serveDirectory(path.join(work, 'site'));
  const sources = await containerdUpstream(path.join(work, 'site'), upstream.url);
  sourcesFile = path.join(work, 'sources.json');
  await writeFile(sourcesFile, JSON.stringify(sources));
  workspace = await scratchWorkspace(['containerd']);
});
afterAll(async () => {
  await upstream.close();
  await rm(work, { recursive: true, force: true });
  await rm(workspace, { recursive: true, force: true });
});

describe('bakehouse build containerd (fixture upstream on loopback)', () => {
  let output: string;
  const dist = () => path.join(workspace, 'extensions/containerd/dist');

  beforeAll(async () => {
    const result = await bakehouse(['build', 'containerd']);
    output = result.all ?? '';
    expect(result.exitCode, output).toBe(0);
  });

  it('writes both arches, their records and SHA256SUMS, and ends with a summary', async () => {
    expect((await readdir(dist())).sort()).toEqual([
      'SHA256SUMS',
      'containerd-2.3.4-arm64.json',
      'containerd-2.3.4-arm64.raw',
      'containerd-2.3.4-arm64.spdx.json',
      'containerd-2.3.4-x86-64.json',
      'containerd-2.3.4-x86-64.raw',
      'containerd-2.3.4-x86-64.spdx.json',
    ]);
    const record = JSON.parse(await readFile(path.join(dist(), 'containerd-2.3.4-x86-64.json'), 'utf8'));
    expect(record.inputs.map((i: { name: string; pinnedBy: string; version: string }) => [i.name, i.version, i.pinnedBy])).toEqual([
      ['containerd', '2.3.4', 'override'],
      ['runc', '1.4.3', 'override'],
    ]);
    expect(output).toMatch(/extensions\/containerd\/dist\/containerd-2\.3\.4-x86-64\.raw\s.*\d+\s.*[0-9a-f]{64}\s.*\d+\.\d+s/);
  });

  it('merges with systemd-sysext: binaries, config, unit and Upholds drop-in in place', async () => {
    const result = await mergeSysext({
      images: { containerd: path.join(dist(), 'containerd-2.3.4-x86-64.raw') },
      osRelease: FLATCAR,
      probe: '"$ROOT/usr/bin/ctr" version; cat "$ROOT/usr/lib/systemd/system/containerd.service" "$ROOT/usr/lib/systemd/system/multi-user.target.d/10-containerd-service.conf"',
    });
    expect(result.listed).toEqual(['containerd']);
    expect(result.files).toEqual(
      expect.arrayContaining(['usr/bin/containerd', 'usr/bin/containerd-shim-runc-v2', 'usr/bin/ctr', 'usr/bin/runc', 'usr/share/containerd/config.toml']),
    );
    expect(result.files).not.toContain('usr/bin/containerd-stress');
    expect(result.probeOutput).toContain('ctr 2.3.4 fixture');
    expect(result.probeOutput).toMatch(/Environment=CONTAINERD_CONFIG=\/usr\/share\/containerd\/config.toml[\s\S]*ExecStart=\/usr\/bin\/containerd --config \$\{CONTAINERD_CONFIG\}/);
    expect(result.probeOutput).toMatch(/Delegate=yes[\s\S]*KillMode=process[\s\S]*Restart=always/);
    expect(result.probeOutput).toContain('Upholds=containerd.service');
  });

  it('inspect reads the extension-release and files from the image', async () => {
    const result = await bakehouse(['inspect', path.join(dist(), 'containerd-2.3.4-arm64.raw'), '--json']);
    expect(result.exitCode, result.all).toBe(0);
    const info = JSON.parse(result.stdout);
    // Built from the fixture upstream through source overrides: the image says so.
    expect(info.extensionRelease).toEqual({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: 'arm64', BAKEHOUSE_SOURCE_OVERRIDES: 'containerd runc' });
    expect(info.sourceOverrides).toEqual(['containerd', 'runc']);
    expect(info.files).toContainEqual(expect.objectContaining({ path: '/usr/bin/runc', mode: '0755' }));
  });

  it('builds offline from a mirror, and fails offline without one, naming the input', async () => {
    const cold = { BAKEHOUSE_CACHE_DIR: path.join(work, 'empty-cache'), BAKEHOUSE_OFFLINE: '1' };
    const failed = await bakehouse(['build', 'containerd', '--arch', 'x86-64'], { env: cold });
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/containerd/);
    expect(failed.stderr).toMatch(/offline/i);

    const requestsBefore = upstream.requests.length;
    const mirrored = await bakehouse(['build', 'containerd', '--arch', 'x86-64', '--mirror', path.join(work, 'cache')], { env: { ...cold, BAKEHOUSE_CACHE_DIR: path.join(work, 'cache-2') } });
    expect(mirrored.exitCode, mirrored.all).toBe(0);
    expect(upstream.requests.length).toBe(requestsBefore);
  });
});

describe('bakehouse build errors', () => {
  it('names the missing tool and its package, and leaves no image', async () => {
    const ws = await scratchWorkspace(['containerd']);
    try {
      const result = await bakehouse(['build', 'containerd', '--arch', 'x86-64'], { cwd: ws, env: { PATH: path.join(work, 'no-tools') } });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('mksquashfs is not installed');
      expect(result.stderr).toContain('apt-get install squashfs-tools');
      expect(await readdir(path.join(ws, 'extensions/containerd/dist'))).toEqual([]);
    } finally {
      await rm(ws, { recursive: true, force: true });
    }
  });

  it.each([
    ['extension.ts', "homepage: 'https://containerd.io'", "homepage: 'containerd.io'", 'homepage: expected a URL such as "https://containerd.io"'],
    ['extension.lock.json', '"arm64": "ad21f4', '"arm64": "zz21f4', 'images[0].inputs.containerd.sha256.arm64: expected a sha256 as 64 lowercase hex characters'],
  ])('names the file and field of a broken %s', async (name, from, to, message) => {
    const ws = await scratchWorkspace(['containerd']);
    try {
      const file = path.join(ws, 'extensions/containerd', name);
      const text = await readFile(file, 'utf8');
      expect(text).toContain(from);
      await writeFile(file, text.replace(from, to));
      for (const command of [['lint'], ['build', 'containerd']]) {
        const result = await bakehouse(command, { cwd: ws });
        expect(result.exitCode).toBe(1);
        expect(result.stderr).toContain(`extensions/containerd/${name}`);
        expect(result.stderr).toContain(message);
      }
    } finally {
      await rm(ws, { recursive: true, force: true });
    }
  });
});

describe('bakehouse list, lint, doctor', () => {
  it('lists extensions with version, compatibility and arches', async () => {
    const result = await bakehouse(['list', '--json'], { cwd: REPO_ROOT });
    expect(JSON.parse(result.stdout)).toContainEqual({ name: 'containerd', category: 'container-runtimes', source: 'upstream', versions: ['2.3.4'], compat: 'level', arch: ['x86-64', 'arm64'], format: 'squashfs' });
    expect(JSON.parse(result.stdout)).toContainEqual(expect.objectContaining({ name: 'podman', source: 'debian trixie' }));
    const table = await bakehouse(['list'], { cwd: REPO_ROOT });
    expect(table.stdout).toMatch(/containerd\s*│\s*2\.3\.4\s*│\s*level\s*│\s*x86-64 arm64/);
  });

  it('shows the requires/conflicts graph', async () => {
    const result = await bakehouse(['list', '--graph'], { cwd: REPO_ROOT });
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain('docker\n  conflicts  containerd\n  conflicts  docker-flatcar (Flatcar built-in)\n');
    expect(result.stdout).toContain('kubernetes\n  requires   containerd | containerd-flatcar (Flatcar built-in)');
  });

  it('lints the repository clean', async () => {
    const result = await bakehouse(['lint'], { cwd: REPO_ROOT });
    expect(result.exitCode, result.all).toBe(0);
  });

  it('doctor reports versions, and what to install when a tool is missing', async () => {
    const ok = await bakehouse(['doctor']);
    expect(ok.stdout).toMatch(/mksquashfs\s*│\s*\d+\.\d+/);
    const bare = await bakehouse(['doctor'], { env: { PATH: path.join(work, 'no-tools') } });
    expect(bare.exitCode).toBe(1);
    expect(bare.stdout).toMatch(/mksquashfs\s*│\s*MISSING/);
    expect(bare.stdout).toMatch(/apt-get install .*squashfs-tools/);
  });
});
