import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPayload, readPublicKey, readSigningKey, verifyPayload, FLATCAR_APP_ID } from '@bakehouse/payload';
import { directoryHandler, startServer, type LoopbackServer } from '@bakehouse/fixtures';
import { parseExtension, type ReleaseIndexImage } from '@bakehouse/schema';
import { NEBRASKA_PACKAGE_FILE, OMAHA_RESPONSE_FILE, publishPayloads, type PayloadImage } from './payloads.js';

const FLATCAR = '4230.2.1';
const BOARD = 'amd64-usr';
let dir: string;
let out: string;
let key: string;
let pub: string;
let image: string;
let osPayload: Buffer;

/** A release-pinned sysext image as bakehouse builds it: squashfs with extension-release.NAME. */
async function sysext(name: string, release: string): Promise<string> {
  const root = path.join(dir, `${name}-root`);
  await mkdir(path.join(root, 'usr/lib/extension-release.d'), { recursive: true });
  await writeFile(path.join(root, 'usr/lib/extension-release.d', `extension-release.${name}`), release);
  // Incompressible, so the payload has several 1 MiB operations.
  await writeFile(path.join(root, 'usr/lib/data'), Buffer.from(Array.from({ length: 2_500_000 }, (_, i) => (i * 2654435761) >>> 24)));
  const file = path.join(dir, `${name}.raw`);
  await execa('mksquashfs', [root, file, '-noappend', '-all-root', '-quiet', '-no-progress', '-mkfs-time', '0', '-all-time', '0']);
  return file;
}

function payloadImage(name: string, file: string, version = '5.4.2'): PayloadImage {
  const manifest = parseExtension({ name, description: 'test', homepage: 'https://example.org', release: { compat: 'release' } }, `${name}/extension.ts`);
  const entry = { extension: name, version, arch: 'x86-64', format: 'squashfs' } as ReleaseIndexImage;
  return { manifest, entry, file };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-payloads-'));
  out = path.join(dir, 'site');
  key = path.join(dir, 'key.pem');
  pub = path.join(dir, 'pub.pem');
  await execa('openssl', ['genrsa', '-out', key, '2048']);
  await execa('openssl', ['rsa', '-in', key, '-pubout', '-out', pub]);
  image = await sysext('flatcar-test', `ID=flatcar\nVERSION_ID=${FLATCAR}\nSYSEXT_ID=flatcar-test\n`);
  // The operator's own OS payload for this release, signed with the same key (a stand-in /usr image).
  osPayload = await buildPayload(Buffer.alloc(3 * 4096, 7), { keys: [await readSigningKey(key)] });
  await mkdir(path.join(out, 'flatcar', BOARD, FLATCAR), { recursive: true });
  await writeFile(path.join(out, 'flatcar', BOARD, FLATCAR, 'flatcar_production_update.gz'), osPayload);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('publishPayloads', () => {
  it('signs release-pinned images into the release file server layout, with Nebraska and Omaha metadata, idempotently', async () => {
    const oem = await sysext('oem-test', `ID=flatcar\nVERSION_ID=${FLATCAR}\n`);
    const keys = [await readSigningKey(key)];
    const options = { outDir: out, images: [payloadImage('flatcar-test', image), payloadImage('oem-test', oem)], keys, baseUrl: 'http://files.example/site' };
    const first = await publishPayloads(options);
    const versionDir = `flatcar/${BOARD}/${FLATCAR}`;
    expect(first.written.sort()).toEqual([`${versionDir}/flatcar-test.gz`, `${versionDir}/${NEBRASKA_PACKAGE_FILE}`, `${versionDir}/oem-test.gz`, `${versionDir}/${OMAHA_RESPONSE_FILE}`]);
    expect(first.releases).toEqual([{ board: BOARD, version: FLATCAR, dir: versionDir, payloads: ['flatcar-test.gz', 'oem-test.gz'], osPayload: true }]);

    const nebraska = JSON.parse(await readFile(path.join(out, versionDir, NEBRASKA_PACKAGE_FILE), 'utf8'));
    const payload = await readFile(path.join(out, versionDir, 'flatcar-test.gz'));
    expect(nebraska).toMatchObject({
      application_id: FLATCAR_APP_ID,
      type: 1,
      arch: 1,
      version: FLATCAR,
      url: `http://files.example/site/${versionDir}/`,
      filename: 'flatcar_production_update.gz',
      size: String(osPayload.length),
      hash: createHash('sha1').update(osPayload).digest('base64'),
      flatcar_action: { sha256: createHash('sha256').update(osPayload).digest('base64') },
      channels_blacklist: [],
    });
    expect(nebraska.extra_files[0]).toEqual({
      name: 'flatcar-test.gz',
      hash: createHash('sha1').update(payload).digest('base64'),
      hash256: createHash('sha256').update(payload).digest('hex'),
      size: String(payload.length),
    });
    expect((await verifyPayload(payload, [await readPublicKey(pub)])).image.equals(await readFile(image))).toBe(true);

    const again = await publishPayloads(options);
    expect(again.written).toEqual([]);
  });

  it('refuses an image whose extension-release does not fit its payload name', async () => {
    const wrong = await sysext('flatcar-other', `ID=flatcar\nSYSEXT_LEVEL=1.0\n`);
    await expect(publishPayloads({ outDir: out, images: [payloadImage('flatcar-other', wrong)], keys: [await readSigningKey(key)], baseUrl: 'http://x' })).rejects.toThrow(/no VERSION_ID \(it says SYSEXT_LEVEL=1.0\)/);
  });
});

describe('an Omaha client following ue-rs (download_sysext) against a loopback Nebraska', () => {
  let server: LoopbackServer;
  beforeAll(async () => {
    const files = directoryHandler(out);
    // The update service answers every update check with the generated response; everything else is the file server.
    server = await startServer(async (req, res) => {
      if (req.method === 'POST' && req.url === '/v1/update/') {
        res.setHeader('content-type', 'text/xml');
        res.end(await readFile(path.join(out, 'flatcar', BOARD, FLATCAR, OMAHA_RESPONSE_FILE)));
        return;
      }
      await files(req, res);
    });
    await publishPayloads({ outDir: out, images: [payloadImage('flatcar-test', image)], keys: [await readSigningKey(key)], baseUrl: `${server.url}/` });
  });
  afterAll(() => server.close());

  it('finds flatcar-test.gz, joins it onto the codebase, checks both hashes, verifies and extracts the same image', async () => {
    const request = `<?xml version="1.0" encoding="UTF-8"?><request protocol="3.0"><app appid="{${FLATCAR_APP_ID}}" version="${FLATCAR}" track="stable" board="${BOARD}"><updatecheck></updatecheck></app></request>`;
    const xml = await (await fetch(`${server.url}/v1/update/`, { method: 'POST', body: request })).text();
    const response = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['app', 'url', 'package'].includes(name) }).parse(xml);
    const check = response.response.app[0].updatecheck;
    const packages: Record<string, string>[] = check.manifest.packages.package;
    // update_engine takes the first package only: the OS payload.
    expect(packages[0]).toMatchObject({ name: 'flatcar_production_update.gz', required: 'true' });
    expect(packages.slice(1).every((p) => p.required === 'false')).toBe(true);

    // ue-rs: the first package whose name matches the glob *flatcar-NAME.gz, and only with a hash_sha256.
    const glob = new RegExp(`^.*${'flatcar-test.gz'.replace(/[.]/g, '\\.')}$`);
    const chosen = packages.find((p) => glob.test(p.name!));
    expect(chosen?.hash_sha256).toMatch(/^[0-9a-f]{64}$/);
    const codebase: string = check.urls.url[0].codebase;
    const url = new URL(chosen!.name!, codebase);
    expect(url.pathname).toBe(`/flatcar/${BOARD}/${FLATCAR}/flatcar-test.gz`);
    // The trap: without the trailing "/", WHATWG URL joining replaces the version segment.
    const trap = new URL(chosen!.name!, codebase.replace(/\/$/, ''));
    expect((await fetch(trap)).status).toBe(404);

    const body = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(body.length).toBe(Number(chosen!.size));
    expect(createHash('sha256').update(body).digest('hex')).toBe(chosen!.hash_sha256);
    expect(createHash('sha1').update(body).digest('base64')).toBe(chosen!.hash);
    const verified = await verifyPayload(body, [await readPublicKey(pub)], url.href);
    expect(verified.image.equals(await readFile(image))).toBe(true);

    const osBody = Buffer.from(await (await fetch(new URL(packages[0]!.name!, codebase))).arrayBuffer());
    expect(createHash('sha256').update(osBody).digest('base64')).toBe(check.manifest.actions.action.sha256);
  });
});
