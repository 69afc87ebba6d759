import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDirectory, type LoopbackServer } from '@bakehouse/fixtures';
import { buildPayload, MirrorError, mirrorFlatcar, readPublicKey, readSigningKey, verifyPayload, MIRROR_NEBRASKA_FILE } from './index.js';
import { generateKeys, KNOWN_IMAGES, type TestKeys } from './test-support/index.js';

const VERSION = '4230.2.1';
const BOARD = 'amd64-usr';
let dir: string;
let keys: TestKeys;
let server: LoopbackServer;
let releaseDir: string;
const files: Record<string, Buffer> = {};
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A fake update.release.flatcar-linux.net: payloads signed by the test's stand-in for Flatcar's key, the OS payload with its .sha256. */
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-mirror-'));
  keys = await generateKeys(dir);
  const key = await readSigningKey(keys.key);
  releaseDir = path.join(dir, 'server', BOARD, VERSION);
  await mkdir(releaseDir, { recursive: true });
  files['flatcar_production_update.gz'] = await buildPayload(KNOWN_IMAGES.mod251, { keys: [key], bzip2: true });
  files['flatcar-podman.gz'] = await buildPayload(KNOWN_IMAGES.zeros, { keys: [key] });
  files['oem-azure.gz'] = await buildPayload(Buffer.alloc(4096, 1), { keys: [key], bzip2: true });
  for (const [name, data] of Object.entries(files)) await writeFile(path.join(releaseDir, name), data);
  await writeFile(path.join(releaseDir, 'flatcar_production_update.gz.sha256'), `${sha256(files['flatcar_production_update.gz']!)}  flatcar_production_update.gz\n`);
  await writeFile(path.join(releaseDir, 'oem-azure.gz.sha256'), `${sha256(files['oem-azure.gz']!)}\n`);
  server = await serveDirectory(path.join(dir, 'server'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const options = async (to: string, from = server.url) => ({
  channel: 'stable',
  version: VERSION,
  board: BOARD,
  to,
  from,
  extensions: ['podman'],
  oems: ['azure'],
  updateKey: await readPublicKey(keys.pub),
  baseUrl: 'http://nebraska.internal/flatcar',
});

describe('mirrorFlatcar', () => {
  it('copies and verifies one release into BOARD/VERSION/ with its Nebraska package, then downloads nothing the second time', async () => {
    const to = path.join(dir, 'mirror');
    const first = await mirrorFlatcar(await options(to));
    expect(first.downloaded).toEqual(['flatcar_production_update.gz', 'flatcar-podman.gz', 'oem-azure.gz']);
    for (const [name, data] of Object.entries(files)) expect((await readFile(path.join(to, BOARD, VERSION, name))).equals(data)).toBe(true);
    expect(first.record.files.map((f) => [f.name, f.publishedSha256])).toEqual([
      ['flatcar_production_update.gz', true],
      ['flatcar-podman.gz', false],
      ['oem-azure.gz', true],
    ]);
    const nebraska = JSON.parse(await readFile(path.join(to, BOARD, VERSION, MIRROR_NEBRASKA_FILE), 'utf8'));
    expect(nebraska.url).toBe(`http://nebraska.internal/flatcar/${BOARD}/${VERSION}/`);
    expect(nebraska.extra_files.map((f: { name: string; hash256: string }) => [f.name, f.hash256])).toEqual([
      ['flatcar-podman.gz', sha256(files['flatcar-podman.gz']!)],
      ['oem-azure.gz', sha256(files['oem-azure.gz']!)],
    ]);

    const requests = server.requests.length;
    const second = await mirrorFlatcar(await options(to));
    expect(second.downloaded).toEqual([]);
    expect(second.kept).toHaveLength(3);
    expect(server.requests.length).toBe(requests);
  });

  it('works from a directory with the same layout', async () => {
    const to = path.join(dir, 'from-dir');
    const result = await mirrorFlatcar(await options(to, path.join(dir, 'server')));
    expect(result.downloaded).toHaveLength(3);
    const mirrored = await readFile(path.join(to, BOARD, VERSION, 'oem-azure.gz'));
    expect((await verifyPayload(mirrored, [await readPublicKey(keys.pub)])).image.equals(Buffer.alloc(4096, 1))).toBe(true);
  });

  it('stops at a tampered payload with nothing written', async () => {
    const to = path.join(dir, 'tampered');
    const tampered = Buffer.from(files['flatcar-podman.gz']!);
    tampered[tampered.length - 300]! ^= 0xff;
    await writeFile(path.join(releaseDir, 'flatcar-podman.gz'), tampered);
    try {
      const error = await mirrorFlatcar(await options(to)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MirrorError);
      expect((error as Error).message).toMatch(/flatcar-podman\.gz: signature check failed/);
      expect(await readdir(to)).toEqual([]);
    } finally {
      await writeFile(path.join(releaseDir, 'flatcar-podman.gz'), files['flatcar-podman.gz']!);
    }
  });

  it('stops when a download does not match the published sha256', async () => {
    const to = path.join(dir, 'mismatch');
    const sums = path.join(releaseDir, 'oem-azure.gz.sha256');
    await writeFile(sums, `${'0'.repeat(64)}\n`);
    try {
      await expect(mirrorFlatcar(await options(to))).rejects.toThrow(/oem-azure\.gz: sha256 [0-9a-f]{64}, but the release server's oem-azure\.gz\.sha256 says 0{64}/);
      expect(await readdir(to)).toEqual([]);
    } finally {
      await writeFile(sums, `${sha256(files['oem-azure.gz']!)}\n`);
    }
  });

  it("refuses payloads that do not verify with the given update key", async () => {
    const to = path.join(dir, 'other-key');
    await expect(mirrorFlatcar({ ...(await options(to)), updateKey: await readPublicKey(keys.pub2) })).rejects.toThrow(/none of the 1 signature\(s\).*\n.*nothing was written/s);
    expect(await readdir(to)).toEqual([]);
  });
});
