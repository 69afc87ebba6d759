import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDirectory } from '@bakehouse/fixtures';
import { parseReleaseIndex, type ReleaseIndex } from '@bakehouse/schema';
import { openSigner, type Signer } from './gpg.js';
import { publishTree, type PublishOptions } from './tree.js';
import { verifyReleaseTree } from './verify.js';
import { buildTinyExtension } from './test-support/images.js';
import { testKeyring } from './test-support/keys.js';

const BASE = 'https://sysext.example.org/flatcar';
let root: string;
let keyring: Awaited<ReturnType<typeof testKeyring>>;
let signer: Signer;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-publish-test-'));
  keyring = await testKeyring();
  signer = await openSigner({ gnupgHome: keyring.home, env: {} });
});
afterAll(async () => {
  await signer.close();
  await keyring.close();
  await rm(root, { recursive: true, force: true });
});

/** Every file below dir with its bytes, for "nothing changed" comparisons. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      files.set(path.relative(dir, file), createHash('sha256').update(await readFile(file)).digest('hex') + (await stat(file)).mtimeMs);
    }
  return files;
}

async function readIndex(dir: string): Promise<ReleaseIndex> {
  return parseReleaseIndex(await readFile(path.join(dir, 'index.json'), 'utf8'), 'index.json');
}

/** What a reader may rely on at any moment: every file index.json or a SHA256SUMS names exists. */
async function assertNothingNamedIsMissing(dir: string): Promise<void> {
  const index = await readIndex(dir);
  const named = Object.values(index.extensions).flatMap((e) => [...e.images.map((i) => i.path), ...e.snippets.map((s) => s.path)]);
  for (const name of Object.keys(index.extensions)) {
    const sums = await readFile(path.join(dir, name, 'SHA256SUMS'), 'utf8');
    named.push(...sums.split('\n').filter(Boolean).map((l) => `${name}/${l.slice(66)}`));
  }
  for (const file of [...named, ...index.publicKeys]) await expect(stat(path.join(dir, file)), file).resolves.toBeTruthy();
}

function publish(options: Partial<PublishOptions> & Pick<PublishOptions, 'outDir' | 'extensions'>) {
  return publishTree({ signer, baseUrl: BASE, ...options });
}

describe('publishTree', () => {
  it('writes a signed, sysupdate-ready tree whose checksums, signatures and Ignition configs check out', async () => {
    const work = path.join(root, 'layout');
    const hello = await buildTinyExtension(work, { name: 'hello', arch: ['x86-64', 'arm64'], conflicts: { builtins: ['docker-flatcar'] }, requires: [{ anyOf: ['kube', 'other'] }] }, [{ version: '1.0.0' }]);
    const kube = await buildTinyExtension(work, { name: 'kube', lines: ['1.35', '1.34'] }, [
      { version: '1.35.2', line: '1.35' },
      { version: '1.34.7', line: '1.34' },
    ]);
    const out = path.join(work, 'tree');
    await publish({ outDir: out, extensions: [hello, kube] });

    const index = await readIndex(out);
    expect(index.baseUrl).toBe(BASE);
    expect(index.extensions.hello!.images.map((i) => i.path)).toEqual(['hello/hello-1.0.0-arm64.raw', 'hello/hello-1.0.0-x86-64.raw']);
    expect(index.extensions.hello!.requires).toEqual(['kube | other']);
    expect(index.extensions.hello!.images[0]!.compatibility).toEqual({ id: 'flatcar', sysextLevel: '1.0' });
    expect(index.extensions.kube!.images.map((i) => [i.version, i.line])).toEqual([['1.34.7', '1.34'], ['1.35.2', '1.35']]);

    // The real sha256sum agrees with every SHA256SUMS, and gpgv with every signature.
    for (const dir of [out, path.join(out, 'hello'), path.join(out, 'kube')]) {
      await execa('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: dir });
      await execa('gpgv', ['--keyring', path.join(out, 'bakehouse-pubring.gpg'), 'SHA256SUMS.gpg', 'SHA256SUMS'], { cwd: dir });
    }
    expect((await readFile(path.join(out, 'SHA256SUMS'), 'utf8')).split('\n')).toContain(`${index.extensions.kube!.images[0]!.sha256}  kube/kube-1.34.7-x86-64.raw`);
    expect((await readFile(path.join(out, 'bakehouse.pub.asc'), 'utf8'))).toContain('BEGIN PGP PUBLIC KEY BLOCK');

    const transfer = await readFile(path.join(out, 'hello/hello.transfer'), 'utf8');
    expect(await readFile(path.join(out, 'hello/hello.conf'), 'utf8')).toBe(transfer);
    for (const line of ['Verify=yes', 'Type=url-file', `Path=${BASE}/hello/`, 'MatchPattern=hello-@v-%a.raw', 'Path=/opt/extensions/hello', 'CurrentSymlink=/etc/extensions/hello.raw', 'InstancesMax=2'])
      expect(transfer.split('\n')).toContain(line);
    const lineTransfer = await readFile(path.join(out, 'kube/kube-v1.34.transfer'), 'utf8');
    expect(lineTransfer.split('\n').filter((l) => l.startsWith('MatchPattern='))).toEqual(['MatchPattern=kube-1.34.@v-%a.raw', 'MatchPattern=kube-1.34.@v-%a.raw']);

    const ignitions = index.extensions.kube!.snippets.filter((s) => s.kind === 'ignition').map((s) => s.path);
    expect(ignitions).toEqual(['kube/kube-x86-64.ign', 'kube/kube-v1.35-x86-64.ign', 'kube/kube-v1.34-x86-64.ign']);
    for (const snippet of Object.values(index.extensions).flatMap((e) => e.snippets).filter((s) => s.kind === 'ignition'))
      await execa('ignition-validate', [path.join(out, snippet.path)]);

    const ignition = JSON.parse(await readFile(path.join(out, 'hello/hello-arm64.ign'), 'utf8'));
    const arm = index.extensions.hello!.images.find((i) => i.arch === 'arm64')!;
    expect(ignition.storage.files[0]).toMatchObject({ path: '/opt/extensions/hello/hello-1.0.0-arm64.raw', contents: { source: `${BASE}/hello/hello-1.0.0-arm64.raw`, verification: { hash: `sha256-${arm.sha256}` } } });
    expect(ignition.storage.links).toEqual([
      { path: '/etc/extensions/hello.raw', hard: false, target: '/opt/extensions/hello/hello-1.0.0-arm64.raw' },
      { path: '/etc/extensions/docker-flatcar.raw', overwrite: true, hard: false, target: '/dev/null' },
    ]);
    expect(ignition.systemd.units).toEqual([
      { name: 'systemd-sysupdate.timer', enabled: true },
      {
        name: 'systemd-sysupdate.service',
        dropins: [
          { name: 'hello.conf', contents: '[Service]\nExecStartPre=/usr/lib/systemd/systemd-sysupdate -C hello update\n' },
          { name: 'sysext.conf', contents: '[Service]\nExecStartPost=/usr/bin/systemctl restart systemd-sysext\n' },
        ],
      },
    ]);
    const transferFile = ignition.storage.files.find((f: { path: string }) => f.path === '/etc/sysupdate.hello.d/hello.conf');
    expect(decodeURIComponent(transferFile.contents.source.replace(/^data:,/, ''))).toBe(transfer);
    const butane = await readFile(path.join(out, 'kube/kube-v1.34-x86-64.bu'), 'utf8');
    expect(butane).toMatch(/^variant: flatcar\nversion: 1\.0\.0\n/);
    expect(butane).toContain(`hash: sha256-${index.extensions.kube!.images[0]!.sha256}`);
    expect(butane).toContain('mode: 0644');

    await verifyReleaseTree(out);
    await assertNothingNamedIsMissing(out);
    // The catalog pages are part of the tree (and of the "changes no byte" check below).
    expect(await readFile(path.join(out, 'hello/index.html'), 'utf8')).toContain(arm.sha256);
    await expect(stat(path.join(out, 'index.html'))).resolves.toBeTruthy();

    // Publishing the same images again changes no byte (and touches no file).
    const before = await snapshot(out);
    const again = await publish({ outDir: out, extensions: [hello, kube] });
    expect(again.written).toEqual([]);
    expect(await snapshot(out)).toEqual(before);
  });

  it('merges with the previous tree, keeps N versions per line and removes pruned images only from the index onwards', async () => {
    const work = path.join(root, 'retention');
    const out = path.join(work, 'tree');
    const versions = ['1.0.0', '1.1.0', '1.2.0'];
    for (const version of versions) {
      const ext = await buildTinyExtension(work, { name: 'hello' }, [{ version }], version);
      const result = await publish({ outDir: out, extensions: [ext], keep: 2 });
      await assertNothingNamedIsMissing(out);
      if (version === '1.2.0') expect(result.removed).toContain('hello/hello-1.0.0-x86-64.raw');
    }
    const index = await readIndex(out);
    expect(index.extensions.hello!.images.map((i) => i.version)).toEqual(['1.1.0', '1.2.0']);
    expect((await readdir(path.join(out, 'hello'))).filter((f) => f.endsWith('.raw'))).toEqual(['hello-1.1.0-x86-64.raw', 'hello-1.2.0-x86-64.raw']);
    expect(await readFile(path.join(out, 'hello/SHA256SUMS'), 'utf8')).not.toContain('1.0.0');
    expect(await readFile(path.join(out, 'hello/hello-x86-64.ign'), 'utf8')).toContain('hello-1.2.0-x86-64.raw');
    await verifyReleaseTree(out);

    // Against a served tree: the output is a delta holding only the new image, and no old image is downloaded.
    const server = await serveDirectory(out);
    try {
      const next = await buildTinyExtension(work, { name: 'hello' }, [{ version: '1.10.0' }], '1.10.0');
      const delta = path.join(work, 'delta');
      const result = await publish({ outDir: delta, extensions: [next], previous: server.url, keep: 2 });
      expect(server.requests.filter((r) => r.endsWith('.raw'))).toEqual([]);
      expect(result.written.filter((f) => f.endsWith('.raw'))).toEqual(['hello/hello-1.10.0-x86-64.raw']);
      expect((await readIndex(delta)).extensions.hello!.images.map((i) => i.version)).toEqual(['1.10.0', '1.2.0']);
      expect((await readdir(path.join(delta, 'hello'))).filter((f) => f.endsWith('.raw'))).toEqual(['hello-1.10.0-x86-64.raw']);
      // Its SBOM goes with it.
      expect(result.pruned).toEqual(['hello/hello-1.1.0-x86-64.raw', 'hello/hello-1.1.0-x86-64.spdx.json']);
      expect(result.removed).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('refuses an image whose file name is already published with other content', async () => {
    const work = path.join(root, 'changed');
    const out = path.join(work, 'tree');
    await publish({ outDir: out, extensions: [await buildTinyExtension(work, { name: 'hello' }, [{ version: '2.0.0' }], 'first')] });
    const before = await snapshot(out);
    const changed = await buildTinyExtension(work, { name: 'hello' }, [{ version: '2.0.0' }], 'second');
    await expect(publish({ outDir: out, extensions: [changed] })).rejects.toThrow(/hello\/hello-2\.0\.0-x86-64\.raw is already published .* bump the packaging revision/);
    expect(await snapshot(out)).toEqual(before);
  });

  it('leaves a consistent tree when interrupted, and completes it on the next run', async () => {
    const work = path.join(root, 'interrupted');
    const out = path.join(work, 'tree');
    const a = await buildTinyExtension(work, { name: 'alpha' }, [{ version: '1.0.0' }], 'a1');
    await publish({ outDir: out, extensions: [a], keep: 1 });
    const a2 = await buildTinyExtension(work, { name: 'alpha' }, [{ version: '1.1.0' }], 'a2');
    const b = await buildTinyExtension(work, { name: 'beta' }, [{ version: '3.0.0' }]);
    // gpg failing half-way (after alpha's SHA256SUMS is signed) stands in for a crash.
    let signatures = 0;
    const failing: Signer = { ...signer, sign: async (file, sig) => (++signatures === 2 ? Promise.reject(new Error('gpg died')) : signer.sign(file, sig)) };
    await expect(publishTree({ signer: failing, outDir: out, extensions: [a2, b], keep: 1 })).rejects.toThrow('gpg died');
    await assertNothingNamedIsMissing(out);
    expect((await readIndex(out)).extensions.alpha!.images.map((i) => i.version)).toEqual(['1.0.0']);
    expect(await stat(path.join(out, 'alpha/alpha-1.0.0-x86-64.raw'))).toBeTruthy();

    await publish({ outDir: out, extensions: [a2, b], keep: 1 });
    await assertNothingNamedIsMissing(out);
    expect(Object.keys((await readIndex(out)).extensions)).toEqual(['alpha', 'beta']);
    expect((await readdir(path.join(out, 'alpha'))).filter((f) => f.endsWith('.raw') || f.includes('partial'))).toEqual(['alpha-1.1.0-x86-64.raw']);
    await verifyReleaseTree(out);
  });

  it('keeps the extensions a run does not publish, and refuses a previous index naming files outside the tree', async () => {
    const work = path.join(root, 'others');
    const out = path.join(work, 'tree');
    await publish({ outDir: out, extensions: [await buildTinyExtension(work, { name: 'alpha' }, [{ version: '1.0.0' }])] });
    await publish({ outDir: out, extensions: [await buildTinyExtension(work, { name: 'beta' }, [{ version: '2.0.0' }])] });
    const index = await readIndex(out);
    expect(Object.keys(index.extensions)).toEqual(['alpha', 'beta']);
    expect(index.extensions.alpha!.description).toBe('alpha for tests');
    await verifyReleaseTree(out);

    const hostile = structuredClone(index);
    hostile.extensions.alpha!.images[0]!.path = 'alpha/../../victim';
    await writeFile(path.join(out, 'index.json'), JSON.stringify(hostile));
    await expect(publish({ outDir: out, extensions: [] })).rejects.toThrow(/extensions\.alpha names "alpha\/\.\.\/\.\.\/victim", which is not a file directly inside alpha\//);
  });

  it('needs a base URL', async () => {
    const work = path.join(root, 'nobase');
    const ext = await buildTinyExtension(work, { name: 'hello' }, [{ version: '1.0.0' }]);
    await expect(publishTree({ signer, outDir: path.join(work, 'tree'), extensions: [ext] })).rejects.toThrow(/--base-url/);
  });
});
