import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeElf, HOSTILE_TARS, type TarEntrySpec } from '@bakehouse/fixtures';
import { listTree } from '@bakehouse/builder';
import { convertTorcx, extensionSource, TorcxError } from './index.js';
import { DOCKER_NETWORK, DOCKER_SERVICE, DOCKER_SOCKET, DOCKER_TORCX_MANIFEST, dockerTorcxEntries, torcxBuildRewrite, writeTorcxImage } from './test-support/torcx-image.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'torcx-convert-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A fresh directory holding the Torcx image `fileName`; the converted tree goes to its files/. */
async function image(fileName: string, entries: readonly TarEntrySpec[]): Promise<{ file: string; dir: string; filesDir: string }> {
  const dir = await mkdtemp(path.join(work, 'case-'));
  const file = path.join(dir, fileName);
  await writeTorcxImage(file, entries);
  await mkdir(path.join(dir, 'out'));
  return { file, dir, filesDir: path.join(dir, 'out', 'files') };
}

async function inDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

const manifestEntry: TarEntrySpec = { name: '.torcx/manifest.json', content: DOCKER_TORCX_MANIFEST };
const binary = (name: string, arch: 'x86-64' | 'arm64' = 'x86-64'): TarEntrySpec => ({ name, mode: 0o755, content: fakeElf(arch, name) });

describe('convertTorcx on a docker image as Flatcar built them', () => {
  it('moves bin/ and lib/ to /usr, rewrites the units, and turns .wants links into enable declarations', async () => {
    const { file, dir, filesDir } = await image('docker:20.10.torcx.tgz', await dockerTorcxEntries());
    const plan = await convertTorcx(file, filesDir);

    expect(plan).toMatchObject({ name: 'docker', version: '20.10', arch: 'x86-64', report: { archFrom: 'the ELF header of bin/containerd' } });
    expect((await listTree(filesDir)).map((e) => (e.type === 'symlink' ? `${e.path} -> ${e.target}` : `${e.path} ${e.type} ${e.mode.toString(8)}`))).toEqual([
      '/usr dir 755',
      '/usr/bin dir 755',
      '/usr/bin/containerd file 755',
      '/usr/bin/ctr file 755',
      '/usr/bin/docker file 755',
      '/usr/bin/docker-runc -> runc',
      '/usr/bin/dockerd file 755',
      '/usr/bin/runc file 755',
      '/usr/lib dir 755',
      '/usr/lib/libltdl.so.7 -> libltdl.so.7.3.1',
      '/usr/lib/libltdl.so.7.3.1 file 755',
      '/usr/lib/systemd dir 755',
      '/usr/lib/systemd/network dir 755',
      '/usr/lib/systemd/network/50-docker.network file 644',
      '/usr/lib/systemd/system dir 755',
      '/usr/lib/systemd/system/containerd.service file 644',
      '/usr/lib/systemd/system/docker.service file 644',
      '/usr/lib/systemd/system/docker.socket file 644',
      '/usr/share dir 755',
      '/usr/share/containerd dir 755',
      '/usr/share/containerd/config.toml file 644',
    ]);
    const unit = (name: string) => readFile(path.join(filesDir, 'usr/lib/systemd/system', name), 'utf8');
    expect(await unit('docker.service')).toBe(DOCKER_SERVICE);
    expect(await unit('docker.socket')).toBe(DOCKER_SOCKET);
    expect(await unit('containerd.service')).toContain('\nExecStart=/usr/bin/containerd --config ${CONTAINERD_CONFIG}\n');
    expect(await unit('containerd.service')).not.toMatch(/torcx/i);
    expect(await readFile(path.join(filesDir, 'usr/lib/systemd/network/50-docker.network'), 'utf8')).toBe(DOCKER_NETWORK);
    expect(await readFile(path.join(filesDir, 'usr/bin/dockerd'))).toEqual(fakeElf('x86-64', 'dockerd torcx fixture'));

    expect(plan.enable).toEqual([
      { unit: 'containerd.service', target: 'multi-user.target' },
      { unit: 'docker.socket', target: 'sockets.target' },
    ]);
    expect(plan.report.dropped).toEqual([{ path: '.torcx/', entries: 1, reason: expect.stringContaining('Torcx metadata') }]);
    expect(plan.report.moved).toEqual([
      { from: 'bin/', to: '/usr/bin/', entries: 6 },
      { from: 'lib/', to: '/usr/lib/', entries: 8 },
      { from: 'usr/', to: '/usr/', entries: 1 },
    ]);
    expect(plan.report.shadowing).toEqual(['/usr/lib/libltdl.so.7', '/usr/lib/libltdl.so.7.3.1']);
    expect(plan.report.builtins).toEqual(['docker-flatcar', 'containerd-flatcar']);
    expect(plan.report.rewritten.map((r) => r.path)).toEqual(['/usr/lib/systemd/system/containerd.service', '/usr/lib/systemd/system/docker.service', '/usr/lib/systemd/system/docker.socket']);
    expect(extensionSource(plan)).toMatchObject({
      arch: ['x86-64'],
      enable: plan.enable,
      conflicts: { builtins: ['docker-flatcar', 'containerd-flatcar'] },
      smoke: { units: ['containerd.service', 'docker.socket'] },
    });
    // Nothing but the tree: the scratch copy of the archive is gone.
    expect(await inDir(path.join(dir, 'out'))).toEqual(['files']);
  });

  it('reads the architecture from the ELF headers: an arm64 image is arm64', async () => {
    const { file, filesDir } = await image('docker:20.10.torcx.tgz', await dockerTorcxEntries('arm64'));
    expect((await convertTorcx(file, filesDir)).arch).toBe('arm64');
  });
});

describe('regressions of the old conversion script', () => {
  const simpleUnit = async () => torcxBuildRewrite('[Unit]\nDescription=hello\n\n[Service]\nExecStart=/usr/bin/hello\n', 'hello');

  it('an image without .wants links enables nothing and gets no drop-in', async () => {
    const { file, filesDir } = await image('hello:1.0.torcx.tgz', [manifestEntry, binary('bin/hello'), { name: 'lib/systemd/system/hello.service', content: await simpleUnit() }]);
    const plan = await convertTorcx(file, filesDir);
    expect(plan.enable).toEqual([]);
    expect(extensionSource(plan)).not.toHaveProperty('enable');
    expect((await listTree(filesDir)).filter((e) => e.path.endsWith('.conf') || e.path.includes('.d/'))).toEqual([]);
  });

  it('rewrites drop-ins too, and takes the architecture from --arch when no file is ELF', async () => {
    const dropIn = '[Service]\nExecStartPre=/usr/bin/hello --check\n';
    const script = { name: 'bin/hello', mode: 0o755, content: '#!/bin/sh\necho hello\n' };
    const { file, filesDir } = await image('hello:1.0.torcx.tgz', [manifestEntry, script, { name: 'lib/systemd/system/hello.service.d/10-check.conf', content: await torcxBuildRewrite(dropIn, 'hello') }]);
    const plan = await convertTorcx(file, filesDir, { arch: 'arm64' });
    expect(plan).toMatchObject({ arch: 'arm64', report: { archFrom: '--arch' } });
    expect(await readFile(path.join(filesDir, 'usr/lib/systemd/system/hello.service.d/10-check.conf'), 'utf8')).toBe(dropIn);

    const elf = await image('hello:1.0.torcx.tgz', [manifestEntry, binary('bin/hello')]);
    await expect(convertTorcx(elf.file, elf.filesDir, { arch: 'arm64' })).rejects.toThrow('--arch arm64, but bin/hello is x86-64');
  });

  it('merges bin/ with usr/bin/, and refuses a name present in both', async () => {
    const both = await image('hello:1.0.torcx.tgz', [manifestEntry, binary('bin/hello'), binary('usr/bin/helper')]);
    await convertTorcx(both.file, both.filesDir);
    expect(await inDir(path.join(both.filesDir, 'usr/bin'))).toEqual(['hello', 'helper']);

    const clash = await image('hello:1.0.torcx.tgz', [manifestEntry, binary('bin/hello'), binary('usr/bin/hello')]);
    await expect(convertTorcx(clash.file, clash.filesDir)).rejects.toThrow('hello:1.0.torcx.tgz: bin/hello and usr/bin/hello would both become /usr/bin/hello; remove one of them');
    expect(await inDir(path.dirname(clash.filesDir))).toEqual([]);
  });

  it('names what is in etc/ as what sysext cannot carry, and reports other top-level entries', async () => {
    const { file, filesDir } = await image('hello:1.0.torcx.tgz', [
      manifestEntry,
      binary('bin/hello'),
      { name: 'etc/hello/hello.conf', content: 'greeting=hi\n' },
      { name: 'opt/hello/data', content: 'x' },
      { name: 'NOTES', content: 'x' },
    ]);
    const plan = await convertTorcx(file, filesDir);
    expect(plan.report.notCarried).toEqual(['/etc/hello/hello.conf']);
    expect(plan.report.dropped.map((d) => d.path)).toEqual(['.torcx/', 'NOTES', 'etc/', 'opt/']);
    expect(plan.report.dropped.find((d) => d.path === 'etc/')?.reason).toContain('systemd-sysext merges only /usr and /opt');
    expect(await inDir(filesDir)).toEqual(['usr']);
  });
});

describe('input it refuses, leaving nothing behind', () => {
  const refuses = async (fileName: string, entries: readonly TarEntrySpec[], message: string | RegExp, prepare?: (file: string) => Promise<void>) => {
    const { file, filesDir } = await image(fileName, entries);
    await prepare?.(file);
    const error = await convertTorcx(file, filesDir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TorcxError);
    expect((error as Error).message).toMatch(message);
    expect(await inDir(path.dirname(filesDir))).toEqual([]);
  };

  it('a truncated archive', async () => {
    await refuses('docker:20.10.torcx.tgz', await dockerTorcxEntries(), /cannot convert docker:20\.10\.torcx\.tgz, nothing was written: .*(unexpected end|premature close|truncated)/i, async (file) => {
      const bytes = await readFile(file);
      await writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    });
  });

  for (const title of ['a ".." name', 'an absolute name', 'a symlink to an absolute path']) {
    const hostile = HOSTILE_TARS.find((c) => c.title === title)!;
    it(`a hostile archive: ${title}`, async () => {
      await refuses('evil:1.0.torcx.tgz', [manifestEntry, ...hostile.entries], `entry ${JSON.stringify(hostile.offending)}`);
    });
  }

  it('a tarball that is not a Torcx image', async () => {
    await refuses('hello:1.0.torcx.tgz', [binary('bin/hello')], 'hello:1.0.torcx.tgz has no .torcx/manifest.json: it is not a Torcx image');
  });

  it('binaries of two architectures, or none at all', async () => {
    await refuses('hello:1.0.torcx.tgz', [manifestEntry, binary('bin/hello'), binary('bin/other', 'arm64')], 'mixes architectures: bin/hello is x86-64, bin/other is arm64');
    await refuses('hello:1.0.torcx.tgz', [manifestEntry, { name: 'bin/hello', mode: 0o755, content: '#!/bin/sh\n' }], 'holds no ELF binary to read its architecture from; pass --arch');
  });

  it('a reference that is no version, or a name that is no extension name', async () => {
    await refuses('docker:com.coreos.cl.torcx.tgz', await dockerTorcxEntries(), 'has the reference "com.coreos.cl", which is not a version');
    await refuses('WireGuard:0.0.2018.torcx.tgz', [manifestEntry], '"WireGuard" cannot name an extension (lowercase letters, digits and "-", starting with a letter or digit); pass --name, e.g. --name wireguard');
  });
});

it('a colon in the file name is just part of the name', async () => {
  const { file, filesDir } = await image('hello:1.0.torcx.tgz', [manifestEntry, binary('bin/hello')]);
  const plan = await convertTorcx(file, filesDir, { name: 'greeter', version: '1.0.1' });
  expect(plan).toMatchObject({ name: 'greeter', version: '1.0.1', report: { archive: 'hello:1.0.torcx.tgz' } });
  expect(await inDir(path.join(filesDir, 'usr/bin'))).toEqual(['hello']);
});
