import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, serveDirectory, type LoopbackServer } from '@bakehouse/fixtures';
import { ensureTestbedRoot } from '@bakehouse/testbed';
import { openSigner, type Signer } from './gpg.js';
import { publishTree } from './tree.js';
import { buildTinyExtension } from './test-support/images.js';
import { testKeyring } from './test-support/keys.js';

let work: string;
let tree: string;
let testbed: string;
let server: LoopbackServer;
let keyring: Awaited<ReturnType<typeof testKeyring>>;
let signer: Signer;

beforeAll(async () => {
  const { version } = JSON.parse(await readFile(path.join(REPO_ROOT, 'flatcar.json'), 'utf8')) as { version: string };
  work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-sysupdate-test-'));
  tree = path.join(work, 'tree');
  [testbed, server, keyring] = await Promise.all([ensureTestbedRoot(version), serveDirectory(tree), testKeyring()]);
  signer = await openSigner({ gnupgHome: keyring.home, env: {} });
  const kube = await buildTinyExtension(work, { name: 'kube', lines: ['1.35', '1.34'] }, [
    { version: '1.35.2', line: '1.35' },
    { version: '1.34.7', line: '1.34' },
  ]);
  await publishTree({ signer, outDir: tree, extensions: [kube], baseUrl: server.url, catalog: false });
}, 600_000);
afterAll(async () => {
  await server?.close();
  await signer?.close();
  await keyring?.close();
  await rm(work, { recursive: true, force: true });
});

/**
 * Runs trixie's real systemd-sysupdate (systemd 257) against the served tree in a throw-away
 * overlay of the testbed root, with the transfer and public key installed where the Ignition config puts them.
 */
async function sysupdate(transfer: string, opt: string, component = 'kube') {
  const defs = path.join(work, 'defs');
  await rm(defs, { recursive: true, force: true });
  await mkdir(defs);
  await writeFile(path.join(defs, path.basename(transfer)), await readFile(path.join(tree, transfer)));
  await mkdir(path.join(opt, component), { recursive: true });
  return execa(
    'systemd-nspawn',
    [
      '--register=no',
      '--keep-unit',
      '--quiet',
      '--volatile=overlay',
      '-D',
      testbed,
      `--bind-ro=${defs}:/etc/sysupdate.${component}.d`,
      `--bind-ro=${path.join(tree, 'bakehouse-pubring.gpg')}:/etc/systemd/import-pubring.gpg`,
      `--bind=${opt}:/opt/extensions`,
      'sh',
      '-c',
      `mkdir -p /etc/extensions && /usr/lib/systemd/systemd-sysupdate -C ${component} update && readlink /etc/extensions/${component}.raw`,
    ],
    { reject: false, all: true, timeout: 60_000 },
  );
}

describe('the tree with the real systemd-sysupdate', () => {
  it('installs the newest patch of the transfer\'s line, after checking SHA256SUMS.gpg', async () => {
    const opt = path.join(work, 'opt-good');
    const result = await sysupdate('kube/kube-v1.34.conf', opt);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout.trim().split('\n').pop()).toBe('../../opt/extensions/kube/kube-1.34.7-x86-64.raw');
    expect(await readdir(path.join(opt, 'kube'))).toEqual(['kube-1.34.7-x86-64.raw']);
    const index = JSON.parse(await readFile(path.join(tree, 'index.json'), 'utf8'));
    const expected = index.extensions.kube.images.find((i: { version: string }) => i.version === '1.34.7').sha256;
    expect(createHash('sha256').update(await readFile(path.join(opt, 'kube/kube-1.34.7-x86-64.raw'))).digest('hex')).toBe(expected);
  });

  it('moves a host to the version an incremental publish added, keeping the previous one', async () => {
    const opt = path.join(work, 'opt-incremental');
    const first = await buildTinyExtension(work, { name: 'hello' }, [{ version: '1.9.0' }], 'old');
    await publishTree({ signer, outDir: tree, extensions: [first], catalog: false });
    const installed = await sysupdate('hello/hello.conf', opt, 'hello');
    expect(installed.exitCode, installed.all).toBe(0);
    expect(await readdir(path.join(opt, 'hello'))).toEqual(['hello-1.9.0-x86-64.raw']);

    const next = await buildTinyExtension(work, { name: 'hello' }, [{ version: '1.10.0' }], 'new');
    await publishTree({ signer, outDir: tree, extensions: [next], catalog: false });
    const updated = await sysupdate('hello/hello.conf', opt, 'hello');
    expect(updated.exitCode, updated.all).toBe(0);
    expect(updated.stdout.trim().split('\n').pop()).toBe('../../opt/extensions/hello/hello-1.10.0-x86-64.raw');
    expect((await readdir(path.join(opt, 'hello'))).sort()).toEqual(['hello-1.10.0-x86-64.raw', 'hello-1.9.0-x86-64.raw']);
  });

  it('refuses a tree whose SHA256SUMS no longer matches its signature', async () => {
    const sums = path.join(tree, 'kube/SHA256SUMS');
    await writeFile(sums, `${await readFile(sums, 'utf8')}${'0'.repeat(64)}  kube-1.34.99-x86-64.raw\n`);
    const opt = path.join(work, 'opt-tampered');
    const result = await sysupdate('kube/kube-v1.34.transfer', opt);
    expect(result.exitCode, result.all).not.toBe(0);
    expect(result.all).toMatch(/signature|gpg|verif/i);
    expect(await readdir(path.join(opt, 'kube'))).toEqual([]);
  });
});
