import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPayload, PayloadError, PayloadVerifyError, readPublicKey, readSigningKey, verifyPayload, SIGNATURE_ENTRY_BYTES, CHUNK_SIZE, BLOCK_SIZE } from './index.js';
import { decodeRaw, generateKeys, KNOWN_IMAGES, unescapeBytes, type RawField, type TestKeys } from './test-support/index.js';

// Reference (flatcar-os-integration.md §1): sha256 of the payload minus its 264-byte signature message,
// produced by upstream's delta_generator; the same for every RSA-2048 key.
const KNOWN_ANSWERS = [
  { image: 'zeros', bzip2: true, bytes: 450, sha256: '165565080302f79686b76dc7f774b6beddbca62b5933c70745ad7fdf82f0b1e9' },
  { image: 'zeros', bzip2: false, bytes: 8599, sha256: 'c3451a26f28a105ef96c5271d2d7cbcc07ce78e0f2282487a2560f56d3779120' },
  { image: 'mod251', bzip2: true, bytes: 3125, sha256: 'f6cf7d91fbd65f9b285780c7c16bff3624b6935e9a30d1d8a7a6c46386e81427' },
  { image: 'mod251', bzip2: false, bytes: 1053136, sha256: '7657e40a56eab6926a8bc22dbc668760aad846e6487ff2fc3bc699ca8cb25d1b' },
] as const;
const IMAGE_SHA256 = {
  zeros: '9f1dcbc35c350d6027f98be0f5c8b43b42ca52b7604459c0c42be3aa88913d47',
  mod251: 'd4af803d30b5830f70508f0ec85dceb211436bd4e4c1dd1672c8d203ccb33924',
};

let dir: string;
let keys: TestKeys;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-payload-'));
  keys = await generateKeys(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const field = (nodes: readonly RawField[], n: number) => nodes.filter((f) => f.field === n);
const scalar = (nodes: readonly RawField[], n: number) => {
  const found = field(nodes, n);
  expect(found, `field ${n}`).toHaveLength(1);
  return found[0]!.value!;
};

describe.each(KNOWN_ANSWERS)('$image image, bzip2 $bzip2', ({ image: imageName, bzip2, bytes, sha256: known }) => {
  const image = KNOWN_IMAGES[imageName];
  let payload: Buffer;
  beforeAll(async () => {
    payload = await buildPayload(image, { keys: [await readSigningKey(keys.key)], bzip2 });
  });

  it('matches the known answer for the signed region, and is deterministic', async () => {
    expect(sha256(image)).toBe(IMAGE_SHA256[imageName]);
    expect(payload.length).toBe(bytes);
    expect(sha256(payload.subarray(0, payload.length - SIGNATURE_ENTRY_BYTES))).toBe(known);
    expect((await buildPayload(image, { keys: [await readSigningKey(keys.key)], bzip2 })).equals(payload)).toBe(true);
  });

  it('decodes field by field with protoc --decode_raw as the image implies', async () => {
    expect(payload.subarray(0, 4).toString()).toBe('CrAU');
    expect(payload.readBigUInt64BE(4)).toBe(1n);
    const manifestLength = Number(payload.readBigUInt64BE(12));
    const manifest = await decodeRaw(payload.subarray(20, 20 + manifestLength));
    const chunks = Math.ceil(image.length / CHUNK_SIZE);
    expect(manifest.map((f) => f.field)).toEqual([...Array<number>(chunks).fill(1), 2, 3, 4, 5, 9]);

    const dataStart = 20 + manifestLength;
    let offset = 0;
    for (const [i, op] of field(manifest, 1).entries()) {
      const chunk = image.subarray(i * CHUNK_SIZE, Math.min((i + 1) * CHUNK_SIZE, image.length));
      // bzip2 -9 from Debian, independently of the encoder: stored only where strictly smaller.
      const compressed = Buffer.from((await execa('bzip2', ['-9', '-c'], { input: chunk, encoding: 'buffer', stripFinalNewline: false })).stdout);
      const expected = bzip2 && compressed.length < chunk.length ? compressed : chunk;
      const children = op.children!;
      expect(children.map((c) => c.field)).toEqual([1, 2, 3, 6, 8]);
      expect(scalar(children, 1)).toBe(expected === compressed ? '1' : '0');
      expect(scalar(children, 2)).toBe(String(offset));
      expect(scalar(children, 3)).toBe(String(expected.length));
      const extent = field(children, 6)[0]!.children!;
      expect(scalar(extent, 1)).toBe(String((i * CHUNK_SIZE) / BLOCK_SIZE));
      expect(scalar(extent, 2)).toBe('256');
      const blob = payload.subarray(dataStart + offset, dataStart + offset + expected.length);
      expect(blob.equals(expected)).toBe(true);
      expect(unescapeBytes(scalar(children, 8)).toString('hex')).toBe(sha256(expected));
      if (expected === compressed) {
        const expanded = Buffer.from((await execa('bzip2', ['-d', '-c'], { input: blob, encoding: 'buffer', stripFinalNewline: false })).stdout);
        expect(expanded.equals(chunk)).toBe(true);
      }
      offset += expected.length;
    }
    const noop = field(manifest, 2)[0]!.children!;
    expect(noop.map((c) => c.field)).toEqual([1, 2, 3, 6]);
    expect([scalar(noop, 1), scalar(noop, 2), scalar(noop, 3)]).toEqual(['0', String(offset), '264']);
    const dummy = field(noop, 6)[0]!.children!;
    expect([scalar(dummy, 1), scalar(dummy, 2)]).toEqual(['18446744073709551615', '1']);
    expect([scalar(manifest, 3), scalar(manifest, 4), scalar(manifest, 5)]).toEqual(['4096', String(offset), '264']);
    const info = field(manifest, 9)[0]!.children!;
    expect(scalar(info, 1)).toBe(String(image.length));
    expect(unescapeBytes(scalar(info, 2)).toString('hex')).toBe(IMAGE_SHA256[imageName]);

    const signatures = await decodeRaw(payload.subarray(dataStart + offset));
    expect(signatures).toHaveLength(1);
    expect(scalar(signatures[0]!.children!, 1)).toBe('2');
    expect(payload.subarray(dataStart + offset, dataStart + offset + 8).toString('hex')).toBe('0a85020802128002');
  });

  it('carries a signature openssl verifies, and verifies back to the same image', async () => {
    const region = path.join(dir, `region-${imageName}-${bzip2}`);
    const signature = path.join(dir, `sig-${imageName}-${bzip2}`);
    await writeFile(region, payload.subarray(0, payload.length - SIGNATURE_ENTRY_BYTES));
    await writeFile(signature, payload.subarray(payload.length - 256));
    const result = await execa('openssl', ['dgst', '-sha256', '-verify', keys.pub, '-signature', signature, region], { reject: false });
    expect(result.stdout).toBe('Verified OK');
    const verified = await verifyPayload(payload, [await readPublicKey(keys.pub)]);
    expect(verified.image.equals(image)).toBe(true);
    expect(verified.verifiedSignatures).toEqual([2]);
  });
});

describe('two keys', () => {
  it('signs with versions 1 and 2, the last key being the real key (version 2), each verified by openssl', async () => {
    const image = KNOWN_IMAGES.mod251;
    const payload = await buildPayload(image, { keys: [await readSigningKey(keys.key2), await readSigningKey(keys.key)], bzip2: true });
    const manifestLength = Number(payload.readBigUInt64BE(12));
    const manifest = await decodeRaw(payload.subarray(20, 20 + manifestLength));
    expect(scalar(manifest, 5)).toBe('528');
    const signedLength = 20 + manifestLength + Number(scalar(manifest, 4));
    const signatures = await decodeRaw(payload.subarray(signedLength));
    expect(signatures.map((s) => scalar(s.children!, 1))).toEqual(['1', '2']);
    await writeFile(path.join(dir, 'region2'), payload.subarray(0, signedLength));
    for (const [i, pub] of [keys.pub2, keys.pub].entries()) {
      await writeFile(path.join(dir, `sig2-${i}`), unescapeBytes(scalar(signatures[i]!.children!, 2)));
      const result = await execa('openssl', ['dgst', '-sha256', '-verify', pub, '-signature', path.join(dir, `sig2-${i}`), path.join(dir, 'region2')], { reject: false });
      expect(result.stdout).toBe('Verified OK');
    }
    expect((await verifyPayload(payload, [await readPublicKey(keys.pub2)])).verifiedSignatures).toEqual([1]);
    expect((await verifyPayload(payload, [await readPublicKey(keys.pub)])).verifiedSignatures).toEqual([2]);
  });
});

describe('verify refuses a changed payload and names what broke', () => {
  const image = KNOWN_IMAGES.mod251;
  let payload: Buffer;
  let manifestLength: number;
  let pub: Awaited<ReturnType<typeof readPublicKey>>;
  beforeAll(async () => {
    payload = await buildPayload(image, { keys: [await readSigningKey(keys.key)], bzip2: false });
    manifestLength = Number(payload.readBigUInt64BE(12));
    pub = await readPublicKey(keys.pub);
  });
  const failuresOf = async (bytes: Buffer) => {
    const error = await verifyPayload(bytes, [pub], 'changed.gz').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PayloadVerifyError);
    return (error as PayloadVerifyError).failures;
  };
  const flipped = (at: number) => {
    const copy = Buffer.from(payload);
    copy[at]! ^= 0x01;
    return copy;
  };

  it('a flipped byte in the second blob: the signature fails, and operation 1 is named', async () => {
    const failures = await failuresOf(flipped(20 + manifestLength + CHUNK_SIZE + 5));
    expect(failures.map((f) => f.check)).toEqual(['signature', 'operations', 'image']);
    expect(failures[1]!.message).toMatch(/^operation 1's data blob/);
  });

  it('a flipped byte in the manifest (the image hash): the signature fails, the blobs pass, the image hash is named', async () => {
    const at = 20 + manifestLength - 1;
    const failures = await failuresOf(flipped(at));
    expect(failures.map((f) => f.check)).toEqual(['signature', 'image']);
    expect(failures[1]!.message).toMatch(/new_partition_info says/);
  });

  it('a flipped byte in the signature: only the signature check fails', async () => {
    const failures = await failuresOf(flipped(payload.length - 10));
    expect(failures.map((f) => f.check)).toEqual(['signature']);
    expect(failures[0]!.message).toMatch(/none of the 1 signature\(s\) \(version 2\) verifies/);
  });

  it('a bad magic and a bad version stop at the header', async () => {
    const magic = Buffer.from(payload);
    magic.write('gzip', 0);
    expect((await failuresOf(magic))[0]).toMatchObject({ check: 'header', message: expect.stringMatching(/not "CrAU"/) });
    const version = Buffer.from(payload);
    version.writeBigUInt64BE(2n, 4);
    expect(await failuresOf(version)).toEqual([{ check: 'header', message: expect.stringMatching(/version 2/) }]);
  });

  it('a payload signed by the second key fails against the first key', async () => {
    const other = await buildPayload(image, { keys: [await readSigningKey(keys.key2)] });
    expect((await failuresOf(other)).map((f) => f.check)).toEqual(['signature']);
  });
});

describe('refusals', () => {
  it('an image whose size is not a multiple of 4096', async () => {
    await expect(buildPayload(Buffer.alloc(5000), { keys: [await readSigningKey(keys.key)] })).rejects.toThrow(/5000 bytes, not a positive multiple of 4096/);
  });

  it('keys that are not RSA-2048', async () => {
    await expect(readSigningKey(keys.rsa1024)).rejects.toThrow(PayloadError);
    await expect(readSigningKey(keys.rsa1024)).rejects.toThrow(/type rsa with 1024 bits; .*only RSA-2048/);
    await expect(readSigningKey(keys.ec)).rejects.toThrow(/a key of type ec; /);
    await expect(readSigningKey(keys.pub)).rejects.toThrow(/not a PEM private key/);
  });
});
