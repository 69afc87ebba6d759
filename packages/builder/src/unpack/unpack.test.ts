import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ExtractRule } from '@bakehouse/schema';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PlannedInput } from '../plan.js';
import { MissingToolError } from '../tools.js';
import {
  COMPRESSION_BOMBS,
  HOSTILE_TARS,
  HOSTILE_ZIPS,
  writeCompressionBomb,
  type TarCompression,
  type TarEntrySpec,
  type ZipEntrySpec,
  writeTar,
  writeZip,
} from '@bakehouse/fixtures';
import { defaultUnpackLimit, ExtractError, type UnpackedFile, UnsafeArchiveError, unpackInput } from './index.js';
import { StagingArea } from './staging-area.js';

let root: string;
let stageDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-unpack-'));
  // One level below root, so that "../evil" written by mistake would land inside root, where snapshots see it.
  stageDir = path.join(root, 'stage');
  await mkdir(stageDir);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function plannedInput(kind: PlannedInput['kind'], extract: ExtractRule[]): PlannedInput {
  return {
    name: 'demo',
    kind,
    version: '1.0',
    url: `https://example.com/releases/demo-1.0.${kind === 'file' ? 'bin' : kind}`,
    sha256: '0'.repeat(64),
    pinnedBy: 'lock',
    extract,
  };
}

async function tarFixture(entries: TarEntrySpec[], compression: TarCompression = 'tar'): Promise<string> {
  const file = path.join(root, `demo-1.0.${compression}`);
  await writeTar(file, entries, compression);
  return file;
}

async function zipFixture(entries: ZipEntrySpec[]): Promise<string> {
  const file = path.join(root, 'demo-1.0.zip');
  await writeZip(file, entries);
  return file;
}

/** Every path below `dir` with its type, permission bits and content (or link target). */
async function snapshot(dir: string = root): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const visit = async (relative: string): Promise<void> => {
    for (const name of (await readdir(path.join(dir, relative))).sort()) {
      const rel = path.posix.join(relative, name);
      const full = path.join(dir, rel);
      const stat = await lstat(full);
      const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
      if (stat.isDirectory()) {
        result[rel] = 'dir';
        await visit(rel);
      } else if (stat.isSymbolicLink()) {
        result[rel] = `symlink -> ${await readlink(full)}`;
      } else {
        result[rel] = `file ${mode} ${JSON.stringify((await readFile(full)).toString('latin1'))}`;
      }
    }
  };
  await visit('');
  return result;
}

async function modeOf(imagePath: string): Promise<number> {
  return (await lstat(path.join(stageDir, imagePath))).mode & 0o7777;
}

/** Runs an unpack that must fail, and checks that it changed nothing on disk. */
async function expectRefusal(run: () => Promise<unknown>): Promise<Error> {
  await writeFile(path.join(stageDir, 'prior.txt'), 'staged before');
  const before = await snapshot();
  const error = await run().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  expect(await snapshot()).toEqual(before);
  return error as Error;
}

const DEMO_TAR: TarEntrySpec[] = [
  { name: './', type: 'directory' },
  { name: './bin/', type: 'directory' },
  { name: './bin/ctr', mode: 0o755, content: 'ctr binary' },
  { name: './bin/containerd-shim', mode: 0o775, content: 'shim' },
  { name: './bin/ctr-link', type: 'symlink', linkname: 'ctr' },
  { name: './share/doc/README.md', content: 'docs' },
  { name: './LICENSE', mode: 0o664, content: 'Apache-2.0' },
];

const DEMO_ZIP: ZipEntrySpec[] = [
  { name: 'bin/', mode: 0o40755 },
  { name: 'bin/ctr', mode: 0o100755, content: 'ctr binary' },
  { name: 'bin/containerd-shim', mode: 0o100775, content: 'shim' },
  { name: 'bin/ctr-link', mode: 0o120777, content: 'ctr' },
  { name: 'share/doc/README.md', content: 'docs' },
  { name: 'LICENSE', mode: 0o100664, content: 'Apache-2.0' },
];

const DEMO_RULES: ExtractRule[] = [
  { from: 'bin/', to: '/usr/bin/' },
  { from: 'LICENSE', to: '/usr/share/licenses/demo/LICENSE' },
];

const DEMO_RESULT: UnpackedFile[] = [
  { path: '/usr/bin/containerd-shim', type: 'file', mode: 0o755, size: 4 },
  { path: '/usr/bin/ctr', type: 'file', mode: 0o755, size: 10 },
  { path: '/usr/bin/ctr-link', type: 'symlink', mode: 0o777, size: 3 },
  { path: '/usr/share/licenses/demo/LICENSE', type: 'file', mode: 0o644, size: 10 },
];

const DEMO_STAGE = {
  usr: 'dir',
  'usr/bin': 'dir',
  'usr/bin/containerd-shim': 'file 0755 "shim"',
  'usr/bin/ctr': 'file 0755 "ctr binary"',
  'usr/bin/ctr-link': 'symlink -> ctr',
  'usr/share': 'dir',
  'usr/share/licenses': 'dir',
  'usr/share/licenses/demo': 'dir',
  'usr/share/licenses/demo/LICENSE': 'file 0644 "Apache-2.0"',
};

describe('unpackInput: archive kinds', () => {
  it.each(['tar', 'tar.gz', 'tar.xz', 'tar.zst'] as const)('unpacks a %s with directory and exact rules', async (kind) => {
    const archive = await tarFixture(DEMO_TAR, kind);
    const unpacked = await unpackInput(archive, plannedInput(kind, DEMO_RULES), stageDir);
    expect(unpacked).toEqual(DEMO_RESULT);
    // Exactly these paths: share/doc is mapped by no rule, and the scratch directory is gone.
    expect(await snapshot(stageDir)).toEqual(DEMO_STAGE);
  });

  it('unpacks a zip, turning Unix symlink entries into symlinks', async () => {
    const archive = await zipFixture(DEMO_ZIP);
    const unpacked = await unpackInput(archive, plannedInput('zip', DEMO_RULES), stageDir);
    expect(unpacked).toEqual(DEMO_RESULT);
    expect(await snapshot(stageDir)).toEqual(DEMO_STAGE);
  });

  it('installs a "file" download at extract[0].to, executable when it is an ELF binary', async () => {
    const download = path.join(root, 'download');
    await writeFile(download, Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(60)]));
    const unpacked = await unpackInput(download, plannedInput('file', [{ to: '/usr/bin/runc' }]), stageDir);
    expect(unpacked).toEqual([{ path: '/usr/bin/runc', type: 'file', mode: 0o755, size: 64 }]);
    expect(await modeOf('/usr/bin/runc')).toBe(0o755);
    expect(await readFile(path.join(stageDir, 'usr/bin/runc'))).toEqual(await readFile(download));
  });

  it('installs a non-executable "file" download as 0644, or with the declared mode', async () => {
    const download = path.join(root, 'download');
    await writeFile(download, 'completion script');
    await unpackInput(download, plannedInput('file', [{ to: '/usr/share/demo/completion' }]), stageDir);
    expect(await modeOf('/usr/share/demo/completion')).toBe(0o644);

    await unpackInput(download, plannedInput('file', [{ to: '/usr/libexec/demo', mode: 0o750 }]), stageDir);
    expect(await modeOf('/usr/libexec/demo')).toBe(0o750);
  });
});

describe('unpackInput: mapping', () => {
  const LAYOUT: TarEntrySpec[] = [
    { name: 'bin/ctr', mode: 0o755, content: 'ctr' },
    { name: 'bin/containerd', mode: 0o755, content: 'containerd' },
    { name: 'lib/plugins/a/plugin.so', mode: 0o755, content: 'plugin' },
    { name: 'lib/README', content: 'readme' },
  ];

  it('maps exactly the named entry with an exact rule', async () => {
    const archive = await tarFixture(LAYOUT);
    await unpackInput(archive, plannedInput('tar', [{ from: 'bin/ctr', to: '/usr/bin/ctr' }]), stageDir);
    expect(await snapshot(stageDir)).toEqual({ usr: 'dir', 'usr/bin': 'dir', 'usr/bin/ctr': 'file 0755 "ctr"' });
  });

  it('puts an exactly mapped entry into a `to` ending in "/" under its own name', async () => {
    const archive = await tarFixture(LAYOUT);
    const unpacked = await unpackInput(archive, plannedInput('tar', [{ from: 'bin/containerd', to: '/usr/libexec/demo/' }]), stageDir);
    expect(unpacked.map((file) => file.path)).toEqual(['/usr/libexec/demo/containerd']);
  });

  it('keeps the nested rest of the path below a directory rule', async () => {
    const archive = await tarFixture(LAYOUT);
    await unpackInput(archive, plannedInput('tar', [{ from: 'lib/plugins/', to: '/usr/lib/demo/' }]), stageDir);
    expect(await snapshot(stageDir)).toEqual({
      usr: 'dir',
      'usr/lib': 'dir',
      'usr/lib/demo': 'dir',
      'usr/lib/demo/a': 'dir',
      'usr/lib/demo/a/plugin.so': 'file 0755 "plugin"',
    });
  });

  it('materialises hard links as copies, also when only the link is mapped', async () => {
    const archive = await tarFixture([
      { name: 'bin/containerd', mode: 0o755, content: 'containerd' },
      { name: 'bin/ctr', type: 'link', linkname: 'bin/containerd', mode: 0o755 },
      { name: 'libexec/real', mode: 0o755, content: 'real' },
      { name: 'libexec/alias', type: 'link', linkname: './libexec/real', mode: 0o755 },
      { name: 'libexec/alias-of-alias', type: 'link', linkname: 'libexec/alias', mode: 0o755 },
    ]);
    const rules: ExtractRule[] = [
      { from: 'bin/', to: '/usr/bin/' },
      { from: 'libexec/alias-of-alias', to: '/usr/bin/alias' },
    ];
    await unpackInput(archive, plannedInput('tar', rules), stageDir);
    expect(await snapshot(stageDir)).toEqual({
      usr: 'dir',
      'usr/bin': 'dir',
      'usr/bin/alias': 'file 0755 "real"',
      'usr/bin/containerd': 'file 0755 "containerd"',
      'usr/bin/ctr': 'file 0755 "containerd"',
    });
    expect((await lstat(path.join(stageDir, 'usr/bin/ctr'))).nlink).toBe(1);
  });
});

describe('unpackInput: modes', () => {
  const SPECIAL_TAR: TarEntrySpec[] = [
    { name: 'bin/sudo', mode: 0o4755, content: 'sudo' },
    { name: 'bin/wall', mode: 0o2755, content: 'wall' },
    { name: 'bin/open', mode: 0o777, content: 'open' },
    { name: 'share/data', mode: 0o666, content: 'data' },
  ];

  it('strips setuid, setgid and group/world write unless a rule declares the mode', async () => {
    const archive = await tarFixture(SPECIAL_TAR);
    await unpackInput(archive, plannedInput('tar', [{ from: 'bin/', to: '/usr/bin/' }, { from: 'share/', to: '/usr/share/demo/' }]), stageDir);
    expect(await modeOf('/usr/bin/sudo')).toBe(0o755);
    expect(await modeOf('/usr/bin/wall')).toBe(0o755);
    expect(await modeOf('/usr/bin/open')).toBe(0o755);
    expect(await modeOf('/usr/share/demo/data')).toBe(0o644);
  });

  it('keeps setuid when the rule declares mode 0o4755', async () => {
    const archive = await tarFixture(SPECIAL_TAR);
    const unpacked = await unpackInput(archive, plannedInput('tar', [{ from: 'bin/sudo', to: '/usr/bin/sudo', mode: 0o4755 }]), stageDir);
    expect(unpacked).toEqual([{ path: '/usr/bin/sudo', type: 'file', mode: 0o4755, size: 4 }]);
    expect(await modeOf('/usr/bin/sudo')).toBe(0o4755);
  });

  it('applies the same rules to zip modes', async () => {
    const archive = await zipFixture([
      { name: 'bin/sudo', mode: 0o104755, content: 'sudo' },
      { name: 'bin/open', mode: 0o100777, content: 'open' },
    ]);
    await unpackInput(archive, plannedInput('zip', [{ from: 'bin/', to: '/usr/bin/' }]), stageDir);
    expect(await modeOf('/usr/bin/sudo')).toBe(0o755);
    expect(await modeOf('/usr/bin/open')).toBe(0o755);
  });
});

describe('unpackInput: hostile archives', () => {
  const RULES: ExtractRule[] = [{ from: 'bin/', to: '/usr/bin/' }];

  it.each(HOSTILE_TARS)('refuses a tar with $title', async ({ entries, offending }) => {
    const archive = await tarFixture(entries, 'tar.gz');
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('tar.gz', RULES), stageDir));
    expect(error).toBeInstanceOf(UnsafeArchiveError);
    expect(error).toMatchObject({ name: 'UnsafeArchiveError', input: 'demo', entry: offending });
    expect(error.message).toContain(JSON.stringify(offending));
    expect(error.message).toContain('demo-1.0.tar.gz');
  });

  it.each(HOSTILE_ZIPS)('refuses a zip with $title', async ({ entries, offending }) => {
    const archive = await zipFixture(entries);
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('zip', RULES), stageDir));
    expect(error).toBeInstanceOf(UnsafeArchiveError);
    expect(error).toMatchObject({ input: 'demo', entry: offending });
    expect(error.message).toContain(JSON.stringify(offending));
  });

  it.each(COMPRESSION_BOMBS)('stops $title compression bomb at the unpacked-size limit, leaving nothing', async (bomb) => {
    const archive = path.join(root, `demo-1.0.${bomb.format}`);
    await writeCompressionBomb(archive, bomb);
    expect((await lstat(archive)).size * 100).toBeLessThan(bomb.unpackedBytes);
    const kind = bomb.format === 'zip' ? 'zip' : bomb.format;
    const error = await expectRefusal(() => unpackInput(archive, plannedInput(kind, RULES), stageDir, { maxBytes: 4 * 1024 ** 2 }));
    expect(error).toBeInstanceOf(ExtractError);
    expect(error.message).toContain('/usr/bin/bomb');
    expect(error.message).toContain('compression bomb');
    expect(error.message).toContain('--max-unpacked-size');
  });

  it('stops a bomb by default at 100× the download, at least 256 MiB', async () => {
    expect(defaultUnpackLimit(1000)).toBe(256 * 1024 ** 2);
    expect(defaultUnpackLimit(10 * 1024 ** 2)).toBe(1000 * 1024 ** 2);
    const archive = path.join(root, 'demo-1.0.tar.zst');
    await writeCompressionBomb(archive, { title: 'big', format: 'tar.zst', unpackedBytes: 264 * 1024 ** 2 });
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('tar.zst', RULES), stageDir));
    expect(error.message).toContain(`over the limit of ${256 * 1024 ** 2} bytes`);
  });

  it('refuses a symlink that stays in the archive but would leave the image where it is placed', async () => {
    const archive = await tarFixture([
      { name: 'y', content: 'y' },
      { name: 'a/b/c/link', type: 'symlink', linkname: '../../../y' },
    ]);
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('tar', [{ from: 'a/b/c/link', to: '/usr/link' }]), stageDir));
    expect(error).toBeInstanceOf(UnsafeArchiveError);
    expect(error).toMatchObject({ entry: 'a/b/c/link' });
    expect(error.message).toContain('outside the image');
  });
});

describe('unpackInput: manifest mistakes and limits', () => {
  const LAYOUT: TarEntrySpec[] = [
    { name: 'bin/ctr', mode: 0o755, content: 'ctr' },
    { name: 'docs/', type: 'directory' },
  ];

  it('names the rule whose `from` matched nothing', async () => {
    const archive = await tarFixture(LAYOUT, 'tar.gz');
    const rules: ExtractRule[] = [
      { from: 'bin/', to: '/usr/bin/' },
      { from: 'bin/ctrx', to: '/usr/bin/ctrx' },
    ];
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('tar.gz', rules), stageDir));
    expect(error).toBeInstanceOf(ExtractError);
    expect(error.message).toBe('input "demo": extract[1].from "bin/ctrx" matched nothing in demo-1.0.tar.gz');
  });

  it('counts a directory rule over an empty directory as matching nothing', async () => {
    const archive = await tarFixture(LAYOUT);
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('tar', [{ from: 'docs/', to: '/usr/share/doc/demo/' }]), stageDir));
    expect(error).toBeInstanceOf(ExtractError);
    expect(error.message).toContain('extract[0].from "docs/" matched nothing');
  });

  it('explains an exact rule that names a directory', async () => {
    const archive = await tarFixture(LAYOUT);
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('tar', [{ from: 'docs', to: '/usr/share/doc/demo' }]), stageDir));
    expect(error).toBeInstanceOf(ExtractError);
    expect(error.message).toContain('extract[0].from "docs" is a directory');
  });

  it('refuses two rules writing the same image path', async () => {
    const archive = await tarFixture(LAYOUT);
    const rules: ExtractRule[] = [
      { from: 'bin/', to: '/usr/bin/' },
      { from: 'bin/ctr', to: '/usr/bin/ctr' },
    ];
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('tar', rules), stageDir));
    expect(error).toBeInstanceOf(ExtractError);
    expect(error.message).toContain('/usr/bin/ctr would be written by both extract[0] ("bin/")');
  });

  it('refuses to overwrite a path already in the stage, leaving it untouched', async () => {
    const archive = await tarFixture(LAYOUT);
    await mkdir(path.join(stageDir, 'usr/bin'), { recursive: true });
    await writeFile(path.join(stageDir, 'usr/bin/ctr'), 'from another input');
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('tar', [{ from: 'bin/', to: '/usr/bin/' }]), stageDir));
    expect(error).toBeInstanceOf(ExtractError);
    expect(error.message).toContain('/usr/bin/ctr is already in the stage directory');
  });

  it('stops at maxBytes with an ExtractError and no partial output', async () => {
    const archive = await tarFixture([
      { name: 'bin/a', content: Buffer.alloc(600, 'a') },
      { name: 'bin/b', content: Buffer.alloc(600, 'b') },
    ]);
    const input = plannedInput('tar', [{ from: 'bin/', to: '/usr/bin/' }]);
    const error = await expectRefusal(() => unpackInput(archive, input, stageDir, { maxBytes: 1000 }));
    expect(error).toBeInstanceOf(ExtractError);
    expect(error.message).toContain('input "demo"');
    expect(error.message).toContain('over the limit of 1000 bytes');
    expect(error.message).toContain('--max-unpacked-size');

    await expect(unpackInput(archive, input, stageDir, { maxBytes: 1200 })).resolves.toHaveLength(2);
  });

  it('stops a compression bomb early', async () => {
    const archive = await tarFixture([{ name: 'bin/bomb', content: Buffer.alloc(64 * 1024 ** 2) }], 'tar.zst');
    expect((await lstat(archive)).size).toBeLessThan(64 * 1024);
    const error = await expectRefusal(() =>
      unpackInput(archive, plannedInput('tar.zst', [{ from: 'bin/', to: '/usr/bin/' }]), stageDir, { maxBytes: 1024 ** 2 }),
    );
    expect(error).toBeInstanceOf(ExtractError);
    expect(error.message).toContain('/usr/bin/bomb');
  });
});

describe('unpackInput: broken downloads and hosts', () => {
  const RULES: ExtractRule[] = [{ from: 'bin/', to: '/usr/bin/' }];

  it('reports a truncated tar.xz with the decompressor\'s complaint', async () => {
    const archive = await tarFixture([{ name: 'bin/ctr', content: Buffer.alloc(256 * 1024, 'x') }], 'tar.xz');
    const bytes = await readFile(archive);
    await writeFile(archive, bytes.subarray(0, bytes.length - 40));
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('tar.xz', RULES), stageDir));
    expect(error).toBeInstanceOf(ExtractError);
    expect(error.message).toMatch(/^input "demo": cannot unpack demo-1\.0\.tar\.xz: xz -dc failed/);
  });

  it('reports a download that is not a gzip at all', async () => {
    const archive = path.join(root, 'demo-1.0.tar.gz');
    await writeFile(archive, '<html>rate limited</html>');
    const error = await expectRefusal(() => unpackInput(archive, plannedInput('tar.gz', RULES), stageDir));
    expect(error).toBeInstanceOf(ExtractError);
    expect(error.message).toContain('cannot unpack demo-1.0.tar.gz');
  });

  it.each([
    ['tar.xz', 'xz', 'xz-utils'],
    ['tar.zst', 'zstd', 'zstd'],
  ] as const)('names the Debian package when %s needs a missing %s', async (kind, tool, debianPackage) => {
    const archive = await tarFixture([{ name: 'bin/ctr', content: 'ctr' }], kind);
    const emptyPath = path.join(root, 'empty-path');
    await mkdir(emptyPath);
    const savedPath = process.env.PATH;
    process.env.PATH = emptyPath;
    try {
      const error = await expectRefusal(() => unpackInput(archive, plannedInput(kind, RULES), stageDir));
      expect(error).toBeInstanceOf(MissingToolError);
      expect(error.message).toContain(`${tool} is not installed`);
      expect(error.message).toContain(`apt-get install ${debianPackage}`);
    } finally {
      process.env.PATH = savedPath;
    }
  });
});

describe('StagingArea', () => {
  it('takes back what it already moved when a later move fails', async () => {
    await writeFile(path.join(stageDir, 'prior.txt'), 'staged before');
    const before = await snapshot();
    const staging = await StagingArea.open(stageDir, { input: 'demo', archive: 'demo-1.0.tar' }, 1024);
    await staging.writeFile({ imagePath: '/usr/bin/a', owner: 'test' }, Readable.from([Buffer.from('a')]), 0o755);
    await staging.writeFile({ imagePath: '/usr/lib/demo/b', owner: 'test' }, Readable.from([Buffer.from('b')]), 0o644);
    // Make the second move fail after the first has happened, as a vanished scratch file would.
    const [scratch] = (await readdir(stageDir)).filter((name) => name.startsWith('.unpack-'));
    await rm(path.join(stageDir, String(scratch), 'usr/lib/demo/b'));

    await expect(staging.commit()).rejects.toThrow(/ENOENT/);
    await staging.discard();
    expect(await snapshot()).toEqual(before);
  });
});
