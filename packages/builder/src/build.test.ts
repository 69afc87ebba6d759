import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExtension, type ExtensionInput, type ExtensionLock } from '@bakehouse/schema';
import { fakeBinary, mergeSysext, serveDirectory, sha256Of, writeTar, type LoopbackServer } from '@bakehouse/fixtures';
import { buildExtension, LintError } from './build.js';
import { inspectImage } from './inspect.js';
import { readRecord } from './record.js';
import type { SquashfsCompression } from './image.js';
import { execa } from 'execa';

let work: string;
let site: LoopbackServer;
let pins: { tarball: string; tool: string };

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'build-test-'));
  await mkdir(path.join(work, 'site'));
  await writeTar(path.join(work, 'site/demo-1.0.tar.gz'), [
    { name: 'demo-1.0/bin/demo', mode: 0o755, content: fakeBinary('demo') },
    { name: 'demo-1.0/share/README', content: 'hello' },
  ], 'tar.gz');
  await writeFile(path.join(work, 'site/tool'), fakeBinary('tool'));
  pins = { tarball: await sha256Of(path.join(work, 'site/demo-1.0.tar.gz')), tool: await sha256Of(path.join(work, 'site/tool')) };
  site = await serveDirectory(path.join(work, 'site'));

  const ext = path.join(work, 'ext');
  await mkdir(path.join(ext, 'files/usr/share/demo'), { recursive: true });
  await writeFile(path.join(ext, 'files/usr/share/demo/config.toml'), 'answer = 42\n');
});
afterAll(async () => {
  await site.close();
  await rm(work, { recursive: true, force: true });
});

function manifest(overrides: Partial<ExtensionInput> = {}) {
  return parseExtension(
    {
      name: 'demo',
      description: 'demo',
      homepage: 'https://example.org',
      inputs: [
        {
          name: 'demo',
          kind: 'tar.gz',
          url: `${site.url}/demo-{version}.tar.gz`,
          extract: [
            { from: 'demo-1.0/bin/demo', to: '/usr/bin/demo' },
            { from: 'demo-1.0/share/', to: '/usr/share/demo/doc/' },
          ],
        },
        { name: 'tool', kind: 'file', url: `${site.url}/tool`, extract: [{ to: '/usr/bin/demo-tool', mode: 0o755 }] },
      ],
      units: { 'demo.service': { Service: { ExecStart: '/usr/bin/demo' } } },
      enable: ['demo.service'],
      ...overrides,
    },
    'ext/extension.ts',
  );
}

function lock(toolSha = pins.tool): ExtensionLock {
  return {
    lockVersion: 1,
    images: [
      {
        version: '1.0',
        inputs: {
          demo: { version: '1.0', sha256: { 'x86-64': pins.tarball, arm64: pins.tarball }, checksum: 'upstream' },
          tool: { version: '2.0', sha256: { 'x86-64': toolSha, arm64: toolSha }, checksum: 'computed' },
        },
      },
    ],
  };
}

async function build(name: string, m = manifest(), extra: { format?: 'squashfs' | 'erofs'; compression?: SquashfsCompression; arches?: ('x86-64' | 'arm64')[]; flatcarVersion?: string; lock?: ExtensionLock } = {}) {
  const distDir = path.join(work, name, 'dist');
  const built = await buildExtension(m, extra.lock ?? lock(), path.join(work, 'ext'), {
    arches: extra.arches ?? ['x86-64'],
    format: extra.format,
    compression: extra.compression,
    flatcarVersion: extra.flatcarVersion,
    distDir,
    fetch: { cacheDir: path.join(work, name, 'cache') },
  });
  return { distDir, built };
}

describe('buildExtension', () => {
  it('writes the image, its build record and SHA256SUMS', async () => {
    const { distDir, built } = await build('outputs', manifest(), { arches: ['x86-64', 'arm64'] });
    expect((await readdir(distDir)).sort()).toEqual(['SHA256SUMS', 'demo-1.0-arm64.json', 'demo-1.0-arm64.raw', 'demo-1.0-arm64.spdx.json', 'demo-1.0-x86-64.json', 'demo-1.0-x86-64.raw', 'demo-1.0-x86-64.spdx.json']);

    const record = await readRecord(path.join(distDir, 'demo-1.0-x86-64.json'));
    const imageSha = await sha256Of(path.join(distDir, 'demo-1.0-x86-64.raw'));
    expect(record.image).toEqual({ file: 'demo-1.0-x86-64.raw', sha256: imageSha, bytes: built[0]!.record.image.bytes });
    expect(record.inputs.map((i) => [i.name, i.sha256])).toEqual([
      ['demo', pins.tarball],
      ['tool', pins.tool],
    ]);
    expect(record.tools.mksquashfs).toMatch(/^\d+\.\d+/);
    expect(record.files).toContainEqual({ path: '/usr/bin/demo', type: 'file', mode: '0755', size: fakeBinary('demo')!.length });
    expect(record.files).toContainEqual({ path: '/usr/share/demo/config.toml', type: 'file', mode: '0644', size: 12 });

    const sums = await readFile(path.join(distDir, 'SHA256SUMS'), 'utf8');
    expect(sums).toBe(`${built[1]!.record.image.sha256}  demo-1.0-arm64.raw\n${imageSha}  demo-1.0-x86-64.raw\n`);
  });

  it('gives bit-identical images from separate caches and output dirs (squashfs and erofs)', async () => {
    for (const format of ['squashfs', 'erofs'] as const) {
      const a = await build(`repro-a-${format}`, manifest(), { format });
      const b = await build(`repro-b-${format}`, manifest(), { format });
      expect(a.built[0]!.record.image.sha256).toBe(b.built[0]!.record.image.sha256);
      expect(await readFile(path.join(a.distDir, 'demo-1.0-x86-64.json'), 'utf8')).toBe(await readFile(path.join(b.distDir, 'demo-1.0-x86-64.json'), 'utf8'));
    }
  });

  it('compresses squashfs with xz by default, or with the compressor asked for, and records which', async () => {
    for (const compression of [undefined, 'gzip', 'zstd'] as const) {
      const { distDir, built } = await build(`compression-${compression ?? 'default'}`, manifest(), { compression });
      const { stdout } = await execa('unsquashfs', ['-s', path.join(distDir, 'demo-1.0-x86-64.raw')]);
      expect(stdout).toContain(`Compression ${compression ?? 'xz'}`);
      expect(built[0]!.record.compression).toBe(compression ?? 'xz');
    }
  });

  it('reads back what it wrote, from the image itself', async () => {
    for (const format of ['squashfs', 'erofs'] as const) {
      const { distDir } = await build(`inspect-${format}`, manifest(), { format });
      const info = await inspectImage(path.join(distDir, 'demo-1.0-x86-64.raw'));
      expect(info.format).toBe(format);
      expect(info.extensionRelease).toEqual({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: 'x86-64' });
      expect(info.files).toContainEqual(expect.objectContaining({ path: '/usr/bin/demo-tool', mode: '0755' }));
      expect(info.files).toContainEqual(expect.objectContaining({ path: '/usr/lib/systemd/system/multi-user.target.d/10-demo-demo.service.conf' }));
    }
  });

  it('writes nothing to dist/ when lint fails', async () => {
    const broken = manifest({ units: { 'demo.service': { Service: { ExecStart: '/usr/bin/not-there' } } } });
    const distDir = path.join(work, 'lint-fail', 'dist');
    await expect(build('lint-fail', broken)).rejects.toThrow(LintError);
    expect(await readdir(distDir)).toEqual([]);
  });

  it('writes nothing to dist/ or the cache on a checksum mismatch', async () => {
    await expect(build('mismatch', manifest(), { lock: lock('f'.repeat(64)) })).rejects.toThrow(/f{64}/);
    expect(await readdir(path.join(work, 'mismatch', 'dist'))).toEqual([]);
    const cached = await readdir(path.join(work, 'mismatch', 'cache', 'sha256')).catch(() => []);
    expect(cached.filter((f) => !f.startsWith(pins.tarball))).toEqual([]);
  });
});

describe('Debian closures', () => {
  it('names bakehouse bump when the archive no longer serves a pinned .deb', async () => {
    const withClosure = manifest({ inputs: [], units: {}, enable: [], debian: { suite: 'trixie', packages: ['hello'], export: [{ from: '/usr/bin/hello', to: '/usr/bin/hello' }] } });
    const gone = { package: 'hello', version: '2.10-5', architecture: 'amd64', url: `${site.url}/pool/main/h/hello/hello_2.10-5_amd64.deb`, sha256: 'e'.repeat(64), size: 1 };
    const closureLock: ExtensionLock = { lockVersion: 1, images: [{ version: '2.10', inputs: {}, debian: { 'x86-64': [gone], arm64: [gone] } }] };
    const failure = build('deb-gone', withClosure, { lock: closureLock });
    await expect(failure).rejects.toThrow(/404[\s\S]*hello 2\.10-5[\s\S]*bakehouse bump demo/);
    expect(await readdir(path.join(work, 'deb-gone', 'dist'))).toEqual([]);
  });
});

describe('merge with the real systemd-sysext', () => {
  const host = { ID: 'flatcar', VERSION_ID: '4230.2.1', SYSEXT_LEVEL: '1.0' };

  it('shows the files and lists the extension', async () => {
    const { distDir } = await build('merge');
    const result = await mergeSysext({ images: { demo: path.join(distDir, 'demo-1.0-x86-64.raw') }, osRelease: host, probe: 'cat "$ROOT/usr/share/demo/config.toml"' });
    expect(result.listed).toEqual(['demo']);
    expect(result.files).toEqual(expect.arrayContaining(['usr/bin/demo', 'usr/bin/demo-tool', 'usr/share/demo/doc/README', 'usr/lib/systemd/system/demo.service']));
    expect(result.probeOutput).toBe('answer = 42');
  });

  it('merges a release-pinned image only into that release', async () => {
    const { distDir } = await build('pinned', manifest({ release: { compat: 'release' } }), { flatcarVersion: '4230.2.1' });
    const image = { demo: path.join(distDir, 'demo-1.0-x86-64.raw') };
    expect((await mergeSysext({ images: image, osRelease: host })).files).toContain('usr/bin/demo');
    const other = await mergeSysext({ images: image, osRelease: { ...host, VERSION_ID: '4230.2.2' } });
    expect(other.files).not.toContain('usr/bin/demo');
    expect(other.log).toMatch(/1 ignored due to incompatible/);
  });

  it('refuses an image built for another architecture', async () => {
    const { distDir } = await build('arm', manifest(), { arches: ['arm64'] });
    const result = await mergeSysext({ images: { demo: path.join(distDir, 'demo-1.0-arm64.raw') }, osRelease: host });
    expect(result.files).not.toContain('usr/bin/demo');
    expect(result.log).toMatch(/1 ignored due to incompatible/);
  });
});
