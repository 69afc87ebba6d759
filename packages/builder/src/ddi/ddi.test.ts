import { copyFile, mkdir, mkdtemp, open, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExtension } from '@bakehouse/schema';
import { runBakehouse } from '@bakehouse/fixtures';
import { buildExtension } from '../build.js';
import { defaultCacheDir } from '../fetch/index.js';
import { readGpt } from './gpt.js';
import { makeDdi } from './make.js';
import { ddiToolsRoot } from './tools-root.js';
import { DdiVerifyError, verifyDdi } from './verify.js';

/** The tools root is cached with the downloads; a first run builds it with mmdebstrap (a minute or two). */
const cacheDir = defaultCacheDir();
let work: string;
let key: string;
let cert: string;
let otherCert: string;
let image: string;

async function makeKey(name: string): Promise<{ key: string; cert: string }> {
  const pair = { key: path.join(work, `${name}.key`), cert: path.join(work, `${name}.crt`) };
  await execa('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', pair.key, '-out', pair.cert, '-days', '3650', '-subj', `/CN=${name}`]);
  return pair;
}

const manifest = () =>
  parseExtension({ name: 'demo', description: 'demo', homepage: 'https://example.org', arch: ['x86-64', 'arm64'] }, 'ext/extension.ts');
const lock = { lockVersion: 1 as const, images: [{ version: '1.0', inputs: {} }] };

async function buildSigned(label: string, arch: 'x86-64' | 'arm64' = 'x86-64', extDir = path.join(work, 'ext')) {
  const distDir = path.join(work, label);
  const [built] = await buildExtension(manifest(), lock, extDir, { arches: [arch], distDir, fetch: { cacheDir }, signing: { key, cert } });
  return built!;
}

/** A real executable (OpenSSL's, a required tool), so the data compresses like the binaries in real images. */
const realBinary = async () => (await execa('sh', ['-c', 'command -v openssl'])).stdout.trim();
const DEMO_FILES = {
  'usr/share/demo/hello': async () => 'hello from a signed image\n'.repeat(1000),
  'usr/share/demo/notes': async () => Array.from({ length: 400 }, (_, i) => `line ${i}: ${'abcdefghij'.repeat(i % 7)}`).join('\n'),
  'usr/lib/demo/openssl': async () => readFile(await realBinary()),
};

/** The demo extension's files/ tree, written in the given order with the given mtime: neither may change the image. */
async function writeDemoTree(extDir: string, order: (keyof typeof DEMO_FILES)[], mtime: Date): Promise<void> {
  for (const name of order) {
    const file = path.join(extDir, 'files', name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, await DEMO_FILES[name]());
    await utimes(file, mtime, mtime);
  }
}

/** Copies one partition of a disk image into its own file. */
async function extractPartition(disk: string, label: string, to: string): Promise<string> {
  const part = (await readGpt(disk)).find((p) => p.label === label);
  if (!part) throw new Error(`${disk} has no partition ${label}`);
  const handle = await open(disk, 'r');
  try {
    const bytes = Buffer.alloc(part.size);
    await handle.read(bytes, 0, part.size, part.offset);
    await writeFile(to, bytes);
  } finally {
    await handle.close();
  }
  return to;
}

/** The fields of an erofs superblock (at byte 1024; layout from the kernel's fs/erofs/erofs_fs.h) that say how data is stored. */
async function erofsSuperblock(file: string) {
  const sb = (await readFile(file)).subarray(1024, 1024 + 128);
  return {
    magic: sb.readUInt32LE(0),
    /** Bytes of the filesystem: blocks × block size. */
    bytes: sb.readUInt32LE(36) * 2 ** sb.readUInt8(12),
    incompat: sb.readUInt32LE(80),
    /** With COMPR_CFGS: a bitmap of the compression algorithms used (bit 0: LZ4, the on-disk format lz4hc also writes). */
    algorithms: sb.readUInt16LE(84),
  };
}
const EROFS_MAGIC = 0xe0f5e1e2;
const INCOMPAT = { ZERO_PADDING: 0x1, COMPR_CFGS: 0x2, ZTAILPACKING: 0x10, FRAGMENTS: 0x20 };

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ddi-test-'));
  await writeDemoTree(path.join(work, 'ext'), ['usr/share/demo/hello', 'usr/share/demo/notes', 'usr/lib/demo/openssl'], new Date());
  ({ key, cert } = await makeKey('bakehouse-test'));
  ({ cert: otherCert } = await makeKey('someone-else'));
  await ddiToolsRoot(cacheDir);
  image = (await buildSigned('a')).imagePath;
}, 600_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Runs `build` with this process (and so the tools it starts) pinned to CPU 0, then restores the affinity. */
async function onOneCpu<T>(build: () => Promise<T>): Promise<T> {
  const mask = (await execa('taskset', ['-p', String(process.pid)])).stdout.split(':').pop()!.trim();
  await execa('taskset', ['-a', '-p', '1', String(process.pid)]);
  try {
    return await build();
  } finally {
    await execa('taskset', ['-a', '-p', mask, String(process.pid)]);
  }
}

/** A copy of the image with one byte of `partition` changed by `change`. */
async function tampered(label: string, type: 'root' | 'signature', change: (bytes: Buffer) => number): Promise<string> {
  const copy = path.join(work, label, path.basename(image));
  await mkdir(path.dirname(copy), { recursive: true });
  await copyFile(image, copy);
  const partitions = await readGpt(copy);
  const part = partitions.find((p) => p.label === (type === 'root' ? 'root-x86-64' : 'root-x86-64-verity-sig'))!;
  const handle = await open(copy, 'r+');
  try {
    const bytes = Buffer.alloc(part.size);
    await handle.read(bytes, 0, part.size, part.offset);
    const at = change(bytes);
    await handle.write(bytes, at, 1, part.offset + at);
  } finally {
    await handle.close();
  }
  return copy;
}

describe('signed DDIs', () => {
  it('is a GPT image with an erofs root, its verity hash and signature partitions, recorded as format "ddi"', async () => {
    const record = JSON.parse(await readFile(image.replace(/\.raw$/, '.json'), 'utf8'));
    expect(record.format).toBe('ddi');
    expect(record.tools['systemd-repart']).toMatch(/^\d+$/);
    const labels = (await readGpt(image)).map((p) => p.label);
    expect(labels).toEqual(['root-x86-64', 'root-x86-64-verity', 'root-x86-64-verity-sig']);
    const verified = await verifyDdi(image, cert);
    expect(verified).toMatchObject({ arch: 'x86-64', name: 'demo', rootHash: record.verity.rootHash, certificateSha256: record.verity.certificateSha256 });
    expect(verified.extensionRelease).toMatchObject({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: 'x86-64' });
  });

  it('compresses the data partition: lz4hc erofs that Debian 12\'s erofs-utils reads, smaller than lz4 and than uncompressed', async () => {
    const root = await extractPartition(image, 'root-x86-64', path.join(work, 'root.erofs'));
    const sb = await erofsSuperblock(root);
    expect(sb.magic).toBe(EROFS_MAGIC);
    expect(sb.incompat & INCOMPAT.COMPR_CFGS, 'compressed (compression configs present)').toBeTruthy();
    expect(sb.algorithms, 'LZ4 family only').toBe(1 << 0);
    expect(sb.incompat & INCOMPAT.ZTAILPACKING, 'file tails packed into inodes').toBeTruthy();
    expect(sb.incompat & INCOMPAT.FRAGMENTS, 'no fragments: Debian 12\'s erofs-utils 1.5 cannot read them').toBe(0);

    // The host's fsck.erofs decompresses and checks every file; what comes out is what went in.
    const tree = path.join(work, 'root-tree');
    await execa('fsck.erofs', [`--extract=${tree}`, root]);
    for (const name of Object.keys(DEMO_FILES) as (keyof typeof DEMO_FILES)[])
      expect(await readFile(path.join(tree, name)), name).toEqual(Buffer.from(await DEMO_FILES[name]()));

    // The same tree as an uncompressed DDI, by the same systemd-repart, and as plain lz4 erofs (the
    // same on-disk format, the fast encoder): lz4hc must beat both, or it is not what was written.
    const uncompressed = path.join(work, 'uncompressed.raw');
    await makeDdi({ stageDir: tree, output: uncompressed, arch: 'x86-64', identity: 'demo-1.0-x86-64', sourceDateEpoch: 0, signing: { key, cert }, cacheDir, compression: 'none' });
    const plain = await erofsSuperblock(await extractPartition(uncompressed, 'root-x86-64', path.join(work, 'uncompressed.erofs')));
    expect(plain.incompat & INCOMPAT.COMPR_CFGS).toBe(0);
    const lz4 = path.join(work, 'lz4.erofs');
    await execa('mkfs.erofs', ['-zlz4', '-C65536', '-Eztailpacking', '--all-root', '-T0', '--quiet', lz4, tree]);
    expect(sb.bytes / plain.bytes).toBeLessThan(0.6);
    expect(sb.bytes / (await erofsSuperblock(lz4)).bytes).toBeLessThan(0.92);
  });

  it('is reproducible: a build from a rewritten tree, on one CPU, later, is bit-identical', async () => {
    // Files created in another order with other mtimes, and the compressor's threads squeezed onto one
    // CPU: a setting that depends on timing, scheduling or directory order would show up here.
    const extDir = path.join(work, 'ext-again');
    await writeDemoTree(extDir, ['usr/lib/demo/openssl', 'usr/share/demo/notes', 'usr/share/demo/hello'], new Date(Date.now() - 86_400_000));
    const again = await onOneCpu(() => buildSigned('b', 'x86-64', extDir));
    expect(await readFile(again.imagePath)).toEqual(await readFile(image));
  });

  it('builds for arm64 with arm64 partition types', async () => {
    const arm = await buildSigned('arm', 'arm64');
    expect((await readGpt(arm.imagePath)).map((p) => p.label)).toEqual(['root-arm64', 'root-arm64-verity', 'root-arm64-verity-sig']);
    await expect(verifyDdi(arm.imagePath, cert)).resolves.toMatchObject({ arch: 'arm64', name: 'demo' });
  });

  it('catches a flipped byte in the data', async () => {
    const copy = await tampered('flip-data', 'root', (bytes) => {
      // The middle of the partition: compressed file data, which dm-verity covers like every other byte.
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] ?? 0) ^ 0x01;
      return at;
    });
    await expect(verifyDdi(copy, cert)).rejects.toThrow(/does not match its dm-verity root hash/);
  });

  it('catches a flipped byte in the signature', async () => {
    const copy = await tampered('flip-signature', 'signature', (bytes) => {
      // The RSA signature value is the last 256 bytes of the PKCS#7 DER; change one base64 digit
      // that encodes a byte 100 from its end (still valid JSON and base64, no longer the signature).
      const start = bytes.indexOf('"signature":"') + 13;
      const der = Buffer.from(bytes.toString('latin1', start, bytes.indexOf('"', start)), 'base64');
      const at = start + Math.floor((der.length - 100) / 3) * 4;
      bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
      return at;
    });
    await expect(verifyDdi(copy, cert)).rejects.toThrow(/signature over root hash \w+ does not verify/);
  });

  it('refuses a certificate other than the signer\'s', async () => {
    await expect(verifyDdi(image, otherCert)).rejects.toThrow(DdiVerifyError);
    await expect(verifyDdi(image, otherCert)).rejects.toThrow(/was signed with the certificate whose sha256/);
  });

  it('refuses an image whose file name does not match its extension-release', async () => {
    const renamed = path.join(work, 'other-1.0-x86-64.raw');
    await copyFile(image, renamed);
    await expect(verifyDdi(renamed, cert)).rejects.toThrow(/the file is called other-1.0-x86-64.raw, but the image says it is "demo"/);
  });

  it('bakehouse verify: OK and exit 0 for the image, a one-line reason and exit 1 for a tampered copy', async () => {
    const ok = await runBakehouse(['verify', image, '--cert', cert], { cwd: work });
    expect(ok.exitCode, ok.all).toBe(0);
    expect(ok.stdout).toContain(`${image}: OK`);
    const tamperedCopy = path.join(work, 'flip-data', path.basename(image));
    const bad = await runBakehouse(['verify', tamperedCopy, '--cert', cert], { cwd: work });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/^bakehouse: .*does not match its dm-verity root hash/);
    expect(bad.stderr).not.toContain('    at ');
  });

  it('says what is wrong with a plain (unsigned) image', async () => {
    const plain = path.join(work, 'plain.raw');
    await writeFile(plain, Buffer.alloc(4096));
    await expect(verifyDdi(plain, cert)).rejects.toThrow(/no GPT partition table/);
  });
});
