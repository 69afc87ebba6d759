import { cp, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportPublicKey, openSigner, SIGNING_KEY_ENV, type Signer } from './gpg.js';
import { publishTree } from './tree.js';
import { verifyReleaseTree } from './verify.js';
import { buildTinyExtension } from './test-support/images.js';
import { testKeyring } from './test-support/keys.js';

let root: string;
let tree: string;
let keyring: Awaited<ReturnType<typeof testKeyring>>;
let signer: Signer;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-verify-test-'));
  keyring = await testKeyring();
  signer = await openSigner({ gnupgHome: keyring.home, env: {} });
  const ext = await buildTinyExtension(root, { name: 'hello', arch: ['x86-64', 'arm64'] }, [{ version: '1.0.0' }]);
  tree = path.join(root, 'tree');
  await publishTree({ signer, outDir: tree, extensions: [ext], baseUrl: 'https://example.org/sysext' });
});
afterAll(async () => {
  await signer.close();
  await keyring.close();
  await rm(root, { recursive: true, force: true });
});

async function copyOfTree(name: string): Promise<string> {
  const copy = path.join(root, name);
  await cp(tree, copy, { recursive: true });
  return copy;
}

describe('verifyReleaseTree', () => {
  it('accepts a good tree', async () => {
    const report = await verifyReleaseTree(tree);
    expect(report.signatures.sort()).toEqual(['SHA256SUMS', 'hello/SHA256SUMS']);
    expect(report.images).toEqual(['hello/hello-1.0.0-arm64.raw', 'hello/hello-1.0.0-x86-64.raw']);
  });

  it('rejects a tampered SHA256SUMS', async () => {
    const copy = await copyOfTree('tampered-sums');
    const sums = path.join(copy, 'hello/SHA256SUMS');
    await writeFile(sums, (await readFile(sums, 'utf8')).replace(/^[0-9a-f]/, (c) => (c === '0' ? '1' : '0')));
    await expect(verifyReleaseTree(copy)).rejects.toThrow(/hello\/SHA256SUMS\.gpg is not a good signature of hello\/SHA256SUMS/);
  });

  it('rejects a tampered image', async () => {
    const copy = await copyOfTree('tampered-image');
    const image = path.join(copy, 'hello/hello-1.0.0-x86-64.raw');
    const handle = await open(image, 'r+');
    await handle.write(Buffer.from('X'), 0, 1, (await stat(image)).size - 1);
    await handle.close();
    await expect(verifyReleaseTree(copy)).rejects.toThrow(/hello\/hello-1\.0\.0-x86-64\.raw has sha256 [0-9a-f]{64}, but hello\/SHA256SUMS says/);
  });

  it('rejects a tree signed by another key than the pinned one', async () => {
    const other = await testKeyring('Someone else <else@bakehouse.invalid>');
    try {
      const pinned = path.join(root, 'other.gpg');
      await writeFile(pinned, await exportPublicKey({ gnupgHome: other.home, keyId: other.fingerprint }));
      await expect(verifyReleaseTree(tree, { keyring: pinned })).rejects.toThrow(/is not a good signature/);
    } finally {
      await other.close();
    }
  });

  it('rejects a missing image', async () => {
    const copy = await copyOfTree('missing-image');
    await rm(path.join(copy, 'hello/hello-1.0.0-arm64.raw'));
    await expect(verifyReleaseTree(copy)).rejects.toThrow(/hello\/hello-1\.0\.0-arm64\.raw, listed in hello\/SHA256SUMS, is missing/);
  });
});

describe('openSigner', () => {
  it(`signs with an armored secret key from ${SIGNING_KEY_ENV} and removes its throw-away keyring`, async () => {
    const { stdout: armored } = await execa('gpg', ['--homedir', keyring.home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--armor', '--export-secret-keys', keyring.fingerprint]);
    // A private TMPDIR, so only this signer's throw-away keyring can appear there.
    const tmp = await mkdtemp(path.join(root, 'tmp-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    const fromEnv = await openSigner({ env: { [SIGNING_KEY_ENV]: armored } }).finally(() => {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    });
    expect(fromEnv.fingerprint).toBe(keyring.fingerprint);
    const file = path.join(root, 'signed.txt');
    await writeFile(file, 'hello\n');
    await fromEnv.sign(file, `${file}.gpg`);
    await writeFile(path.join(root, 'env.gpg'), await fromEnv.publicKey(false));
    await execa('gpgv', ['--keyring', path.join(root, 'env.gpg'), `${file}.gpg`, file]);
    expect(await readdir(tmp)).toEqual([expect.stringMatching(/^bakehouse-gnupg-/)]);
    await fromEnv.close();
    expect(await readdir(tmp)).toEqual([]);
  });

  it('names the problem when no key is available', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'bh-empty-gpg-'));
    try {
      await expect(openSigner({ gnupgHome: empty, env: {} })).rejects.toThrow(/no secret key in .*bakehouse keys init/);
      await expect(openSigner({ env: { [SIGNING_KEY_ENV]: 'not a key' } })).rejects.toThrow(new RegExp(`${SIGNING_KEY_ENV} does not hold an importable secret key`));
    } finally {
      await execa('gpgconf', ['--homedir', empty, '--kill', 'all'], { reject: false });
      await rm(empty, { recursive: true, force: true });
    }
  });
});
