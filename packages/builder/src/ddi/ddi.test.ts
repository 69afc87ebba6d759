import { copyFile, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExtension } from '@bakehouse/schema';
import { runBakehouse } from '@bakehouse/fixtures';
import { buildExtension } from '../build.js';
import { defaultCacheDir } from '../fetch/index.js';
import { readGpt } from './gpt.js';
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

async function buildSigned(label: string, arch: 'x86-64' | 'arm64' = 'x86-64') {
  const distDir = path.join(work, label);
  const [built] = await buildExtension(manifest(), lock, path.join(work, 'ext'), { arches: [arch], distDir, fetch: { cacheDir }, signing: { key, cert } });
  return built!;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ddi-test-'));
  await mkdir(path.join(work, 'ext/files/usr/share/demo'), { recursive: true });
  await writeFile(path.join(work, 'ext/files/usr/share/demo/hello'), 'hello from a signed image\n'.repeat(1000));
  ({ key, cert } = await makeKey('bakehouse-test'));
  ({ cert: otherCert } = await makeKey('someone-else'));
  await ddiToolsRoot(cacheDir);
  image = (await buildSigned('a')).imagePath;
}, 600_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

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

  it('is reproducible: a second build is bit-identical', async () => {
    const again = await buildSigned('b');
    expect(await readFile(again.imagePath)).toEqual(await readFile(image));
  });

  it('builds for arm64 with arm64 partition types', async () => {
    const arm = await buildSigned('arm', 'arm64');
    expect((await readGpt(arm.imagePath)).map((p) => p.label)).toEqual(['root-arm64', 'root-arm64-verity', 'root-arm64-verity-sig']);
    await expect(verifyDdi(arm.imagePath, cert)).resolves.toMatchObject({ arch: 'arm64', name: 'demo' });
  });

  it('catches a flipped byte in the data', async () => {
    const copy = await tampered('flip-data', 'root', (bytes) => {
      const at = bytes.indexOf('hello from a signed image');
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
