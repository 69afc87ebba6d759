import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { createTestSigningKey, hashicorpUpstream, serveDirectory, type LoopbackServer, type Sources, type TestSigningKey } from '@bakehouse/fixtures';
import { LOCK_FILE, parseExtension, parseLock } from '@bakehouse/schema';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_BASES } from './bases.js';
import { bump } from './bump.js';
import { resolveChecksum } from './checksum.js';
import type { UpstreamContext } from './context.js';
import { writeBump } from './write-bump.js';

const VERSION = '2.0.2';
const RELEASE = `https://releases.hashicorp.com/consul/${VERSION}`;
const ZIP = (goarch: string) => `${RELEASE}/consul_${VERSION}_linux_${goarch}.zip`;
const LIST = `${RELEASE}/consul_${VERSION}_SHA256SUMS`;
const SIGNED = {
  from: 'signed-sha256sums',
  url: 'https://releases.hashicorp.com/consul/{version}/consul_{version}_SHA256SUMS',
  signature: 'https://releases.hashicorp.com/consul/{version}/consul_{version}_SHA256SUMS.sig',
  key: 'keys/hashicorp.asc',
} as const;

let work: string;
let site: string;
let server: LoopbackServer;
let signer: TestSigningKey;
let stranger: TestSigningKey;
let sources: Sources;
let ctx: UpstreamContext;
let cacheDir: string;

/** An extension directory holding `key` at keys/hashicorp.asc (nothing when undefined). */
async function extensionDir(name: string, key: Buffer | undefined, keyPath: string = SIGNED.key): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(path.join(dir, 'keys'), { recursive: true });
  if (key) await writeFile(path.join(dir, keyPath), key);
  return dir;
}

const target = (dir: string) => ({ input: 'consul', url: ZIP('arm64'), version: VERSION, arch: 'arm64' as const, extensionDir: dir });
const servedFile = (url: string) => path.join(site, new URL(url).host, new URL(url).pathname);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-signed-list-'));
  site = path.join(work, 'site');
  cacheDir = path.join(work, 'cache');
  [signer, stranger] = await Promise.all([createTestSigningKey('Fake HashiCorp Security <security@hashicorp.test>'), createTestSigningKey('Someone Else <else@example.test>')]);
  server = await serveDirectory(site);
  sources = await hashicorpUpstream(site, server.url, { consul: VERSION }, signer);
  ctx = { bases: { ...DEFAULT_BASES, hashicorp: `${server.url}/releases.hashicorp.com` }, http: { retries: 0 } };
}, 60_000);

afterAll(async () => {
  await server?.close();
  await Promise.all([signer?.close(), stranger?.close()]);
  await rm(work, { recursive: true, force: true });
});

describe('a signed sha256sums list', () => {
  test('verifies against the armored key and gives the zip\'s sha256, recorded as "signed"', async () => {
    const dir = await extensionDir('armored', signer.armoredPublicKey);
    const resolved = await resolveChecksum(SIGNED, target(dir), ctx, { cacheDir });
    expect(resolved).toEqual({ sha256: sources[ZIP('arm64')]!.sha256, checksum: 'signed' });
  });

  test('verifies against a binary .gpg keyring too', async () => {
    const { stdout } = await execa('gpg', ['--batch', '--dearmor'], { input: signer.armoredPublicKey, encoding: 'buffer', stripFinalNewline: false });
    const dir = await extensionDir('binary', Buffer.from(stdout), 'keys/hashicorp.gpg');
    const resolved = await resolveChecksum({ ...SIGNED, key: 'keys/hashicorp.gpg' }, target(dir), ctx, { cacheDir });
    expect(resolved.sha256).toBe(sources[ZIP('arm64')]!.sha256);
  });

  test('a tampered list is refused, naming the list, its signature and the key file', async () => {
    const dir = await extensionDir('tampered', signer.armoredPublicKey);
    const original = await readFile(servedFile(LIST), 'utf8');
    const forged = original.replace(sources[ZIP('arm64')]!.sha256, 'f'.repeat(64));
    expect(forged).not.toBe(original);
    await writeFile(servedFile(LIST), forged);
    try {
      const resolving = resolveChecksum(SIGNED, target(dir), ctx, { cacheDir });
      await expect(resolving).rejects.toThrow(`${ctx.bases.hashicorp}/consul/${VERSION}/consul_${VERSION}_SHA256SUMS is not signed by a key in`);
      await expect(resolveChecksum(SIGNED, target(dir), ctx, { cacheDir })).rejects.toThrow(/keys\/hashicorp\.asc: gpgv refused .*SHA256SUMS\.sig \(.*BAD signature/);
    } finally {
      await writeFile(servedFile(LIST), original);
    }
  });

  test("a key that is not the signer's is refused", async () => {
    const dir = await extensionDir('stranger', stranger.armoredPublicKey);
    await expect(resolveChecksum(SIGNED, target(dir), ctx, { cacheDir })).rejects.toThrow(/is not signed by a key in .*keys\/hashicorp\.asc: gpgv refused .*No public key/);
  });

  test('a missing key file is refused, naming it', async () => {
    const dir = await extensionDir('keyless', undefined);
    await expect(resolveChecksum(SIGNED, target(dir), ctx, { cacheDir })).rejects.toThrow(/the public key .*keyless\/keys\/hashicorp\.asc for .*SHA256SUMS cannot be read \(ENOENT\)/);
  });

  test('a file that is not a key is refused, naming it', async () => {
    const dir = await extensionDir('not-a-key', Buffer.from('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64 at all\n-----END PGP PUBLIC KEY BLOCK-----\n'));
    await expect(resolveChecksum(SIGNED, target(dir), ctx, { cacheDir })).rejects.toThrow(/not-a-key\/keys\/hashicorp\.asc/);
  });
});

describe('bump with a signed list', () => {
  test('pins both arches from the verified list, proves them by download, and writes a lock saying "signed"', async () => {
    const dir = await extensionDir('consul', signer.armoredPublicKey);
    const manifest = parseExtension(
      {
        name: 'consul',
        description: 'consul',
        homepage: 'https://www.consul.io',
        upstream: { type: 'github-releases', repo: 'hashicorp/consul' },
        inputs: [
          { name: 'consul', kind: 'zip', url: 'https://releases.hashicorp.com/consul/{version}/consul_{version}_linux_{goarch}.zip', checksum: SIGNED, extract: [{ from: 'consul', to: '/usr/bin/consul' }] },
        ],
      },
      'extension.ts',
    );
    const result = await bump({ manifest, dir }, { ctx, to: VERSION, fetch: { cacheDir, retryDelayMs: 1 } });
    expect(result.lock.images).toEqual([
      { version: VERSION, inputs: { consul: { version: VERSION, sha256: { 'x86-64': sources[ZIP('amd64')]!.sha256, arm64: sources[ZIP('arm64')]!.sha256 }, checksum: 'signed' } } },
    ]);
    const lockFile = path.join(dir, LOCK_FILE);
    await writeBump(result, { lockFile, changesetDir: path.join(work, '.changeset') });
    const written = parseLock(JSON.parse(await readFile(lockFile, 'utf8')), lockFile, manifest);
    expect(written.images[0]!.inputs.consul!.checksum).toBe('signed');

    // Without its directory, bump cannot find the key: it says so rather than pinning unverified.
    await expect(bump({ manifest }, { ctx, to: VERSION, fetch: { cacheDir, retryDelayMs: 1 } })).rejects.toThrow(/needs the extension's directory to find its key keys\/hashicorp\.asc/);
  });
});
