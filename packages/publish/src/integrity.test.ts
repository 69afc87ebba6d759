import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectImage, readRecord } from '@bakehouse/builder';
import { serveDirectory, type LoopbackServer } from '@bakehouse/fixtures';
import { parseReleaseIndex, type ExtensionLock, type TestRecord } from '@bakehouse/schema';
import { openSigner, type Signer } from './gpg.js';
import type { PublishExtension } from './images.js';
import { publishTree, type PublishOptions } from './tree.js';
import { verifyReleaseTree } from './verify.js';
import { buildTinyExtension, type TinyExtension } from './test-support/images.js';
import { testKeyring } from './test-support/keys.js';

/**
 * Publish checks every image before it signs anything; each refusal must leave the tree
 * exactly as it was (byte for byte, mtimes too). Real images from the real builder, a real
 * loopback download for the one input, real gpg.
 */
const BASE = 'https://sysext.example.org/flatcar';
let root: string;
let tree: string;
let site: LoopbackServer;
let keyring: Awaited<ReturnType<typeof testKeyring>>;
let signer: Signer;
const TOOL = Buffer.from('#!/bin/sh\necho tool 1.0.0\n');
const REPACKAGED = Buffer.from('#!/bin/sh\necho something else entirely\n');
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-integrity-'));
  tree = path.join(root, 'tree');
  await mkdir(path.join(root, 'site/mirror'), { recursive: true });
  await writeFile(path.join(root, 'site/tool-1.0.0'), TOOL);
  await writeFile(path.join(root, 'site/mirror/tool-1.0.0'), TOOL);
  await writeFile(path.join(root, 'site/repackaged'), REPACKAGED);
  site = await serveDirectory(path.join(root, 'site'));
  keyring = await testKeyring();
  signer = await openSigner({ gnupgHome: keyring.home, env: {} });
  // The tree every refusal must leave alone.
  const good = await tiny('good');
  await publish({ extensions: [good] });
}, 60_000);
afterAll(async () => {
  await signer?.close();
  await keyring?.close();
  await site?.close();
  await rm(root, { recursive: true, force: true });
});

function tiny(name: string, extra: Partial<TinyExtension> = {}, dir = root): Promise<PublishExtension> {
  return buildTinyExtension(dir, { name, input: { url: `${site.url}/tool-{version}`, version: '1.0.0', sha256: sha(TOOL) }, ...extra }, [{ version: '1.0.0' }]);
}

function publish(options: Partial<PublishOptions> & Pick<PublishOptions, 'extensions'>) {
  return publishTree({ signer, baseUrl: BASE, outDir: tree, ...options });
}

/** Every file of the tree with its bytes' sha256 and mtime. */
async function snapshot(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(tree, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      files.set(path.relative(tree, file), `${sha(await readFile(file))} ${(await stat(file)).mtimeMs}`);
    }
  return files;
}

/** Publishing must fail with a message matching `message`, and leave every byte of the tree as it was. */
async function expectRefused(options: Partial<PublishOptions> & Pick<PublishOptions, 'extensions'>, message: RegExp): Promise<void> {
  const before = await snapshot();
  await expect(publish(options)).rejects.toThrow(message);
  expect(await snapshot()).toEqual(before);
}

const imageOf = (ext: PublishExtension) => path.join(ext.distDir, `${ext.manifest.name}-1.0.0-x86-64.raw`);

describe('publish checks every image before it signs', () => {
  it('refuses an image edited after its build, naming it', async () => {
    const edited = await tiny('edited');
    const handle = await open(imageOf(edited), 'r+');
    await handle.write(Buffer.from('X'), 0, 1, 100);
    await handle.close();
    await expectRefused({ extensions: [edited] }, /edited-1\.0\.0-x86-64\.raw: sha256 [0-9a-f]{64}, but edited-1\.0\.0-x86-64\.json says [0-9a-f]{64}: the image changed after its build/);

    const grown = await tiny('grown');
    await writeFile(imageOf(grown), Buffer.alloc(1), { flag: 'a' });
    await expectRefused({ extensions: [grown] }, /grown-1\.0\.0-x86-64\.raw: \d+ bytes, but grown-1\.0\.0-x86-64\.json says \d+/);
  });

  it('refuses an SBOM edited or lost after its build, and publishes the built one beside its image', async () => {
    const edited = await tiny('sbom-edited');
    const sbomOf = (ext: PublishExtension) => imageOf(ext).replace(/\.raw$/, '.spdx.json');
    await writeFile(sbomOf(edited), (await readFile(sbomOf(edited), 'utf8')).replace('NOASSERTION', 'MIT'));
    await expectRefused({ extensions: [edited] }, /sbom-edited-1\.0\.0-x86-64\.raw: its SBOM sbom-edited-1\.0\.0-x86-64\.spdx\.json has sha256 [0-9a-f]{64}, but sbom-edited-1\.0\.0-x86-64\.json says [0-9a-f]{64}: it changed after the build/);
    const lost = await tiny('sbom-lost');
    await rm(sbomOf(lost));
    await expectRefused({ extensions: [lost] }, /its SBOM sbom-lost-1\.0\.0-x86-64\.spdx\.json, which sbom-lost-1\.0\.0-x86-64\.json names, is missing/);

    // verify-release notices an SBOM changed in the tree, which the signed SHA256SUMS vouches for.
    const scratchTree = path.join(root, 'sbom-tree');
    const ext = await tiny('sbom-good');
    await publishTree({ signer, baseUrl: BASE, outDir: scratchTree, extensions: [ext] });
    const published = path.join(scratchTree, 'sbom-good/sbom-good-1.0.0-x86-64.spdx.json');
    expect(await readFile(published)).toEqual(await readFile(sbomOf(ext)));
    await writeFile(published, '{}\n');
    await expect(verifyReleaseTree(scratchTree)).rejects.toThrow(/sbom-good\/sbom-good-1\.0\.0-x86-64\.spdx\.json has sha256 [0-9a-f]{64}, but SHA256SUMS says/);
  });

  it('refuses a record built from an older lock: another pin, another version', async () => {
    const stale = await tiny('stale');
    const lock = (change: (l: ExtensionLock) => void): ExtensionLock => {
      const copy = structuredClone(stale.lock);
      change(copy);
      return copy;
    };
    const repinned = lock((l) => (l.images[0]!.inputs.tool!.sha256['x86-64'] = sha(REPACKAGED)));
    await expectRefused({ extensions: [{ ...stale, lock: repinned, lockFile: 'stale/extension.lock.json' }] }, new RegExp(`stale-1\\.0\\.0-x86-64\\.raw: built with tool 1\\.0\\.0 sha256 ${sha(TOOL)}, but stale/extension\\.lock\\.json pins sha256 ${sha(REPACKAGED)} for x86-64; the record is stale`));
    const bumped = lock((l) => (l.images[0]!.inputs.tool!.version = '1.0.1'));
    await expectRefused({ extensions: [{ ...stale, lock: bumped }] }, /built with tool 1\.0\.0, but the lock pins 1\.0\.1/);
    const revised = lock((l) => (l.images[0]!.revision = 1));
    await expectRefused({ extensions: [{ ...stale, lock: revised }] }, /built as version 1\.0\.0, which the lock no longer holds \(it locks 1\.0\.0\.r1\)/);
    // A closure the lock resolved again after the build: another .deb set.
    const deb = { package: 'libfoo1', version: '1.2-3', architecture: 'amd64', url: 'http://deb.debian.org/debian/pool/main/f/foo/libfoo1_1.2-3_amd64.deb', sha256: sha(TOOL), size: TOOL.length };
    const resolved = lock((l) => (l.images[0]!.debian = { 'x86-64': [deb] }));
    await expectRefused({ extensions: [{ ...stale, lock: resolved }] }, /its Debian closure is not the one the lock pins for x86-64: the lock adds libfoo1 1\.2-3/);
  });

  it('refuses an override build unless --allow-overrides, which keeps it marked in the image, index.json, the catalog and verify-release', async () => {
    const override = await tiny('override', { sources: { [`${site.url}/tool-1.0.0`]: { url: `${site.url}/repackaged`, sha256: sha(REPACKAGED) } } });
    const info = await inspectImage(imageOf(override));
    expect(info.extensionRelease.BAKEHOUSE_SOURCE_OVERRIDES).toBe('tool');
    expect(info.sourceOverrides).toEqual(['tool']);
    expect((await readRecord(imageOf(override).replace(/\.raw$/, '.json'))).sourceOverrides).toEqual(['tool']);
    await expectRefused({ extensions: [override] }, /override-1\.0\.0-x86-64\.raw: built from source overrides \(tool\), not the lock's pins.*--allow-overrides/);

    await publish({ extensions: [override], allowOverrides: true });
    const index = parseReleaseIndex(await readFile(path.join(tree, 'index.json'), 'utf8'), 'index.json');
    expect(index.extensions.override!.images[0]!.overrides).toEqual(['tool']);
    expect(index.extensions.good!.images[0]!.overrides).toBeUndefined();
    const page = await readFile(path.join(tree, 'override/index.html'), 'utf8');
    expect(page).toContain('override build');
    expect(page).toMatch(/Override builds:.*tool/);
    expect(await readFile(path.join(tree, 'good/index.html'), 'utf8')).not.toContain('override build');
    expect((await verifyReleaseTree(tree)).overrides).toEqual(['override/override-1.0.0-x86-64.raw']);
  });

  it('an override that keeps the lock\'s pin is a mirror: not marked, and the same bytes as a build from upstream', async () => {
    const mirrored = await tiny('good', { sources: { [`${site.url}/tool-1.0.0`]: { url: `${site.url}/mirror/tool-1.0.0`, sha256: sha(TOOL) } } }, await mkdtemp(path.join(root, 'mirror-')));
    const record = await readRecord(imageOf(mirrored).replace(/\.raw$/, '.json'));
    expect(record.inputs[0]!.pinnedBy).toBe('lock');
    expect(record.sourceOverrides).toBeUndefined();
    expect(sha(await readFile(imageOf(mirrored)))).toBe(sha(await readFile(path.join(tree, 'good/good-1.0.0-x86-64.raw'))));
  });

  it('refuses a release-pinned image built for another Flatcar release, or without knowing which release is published', async () => {
    const pinned = await tiny('pinned', { flatcarVersion: '4230.2.1' });
    await expectRefused({ extensions: [pinned], flatcarVersion: '4230.2.2' }, /pinned-1\.0\.0-x86-64\.raw: built for Flatcar 4230\.2\.1 \(VERSION_ID\), but this tree is for Flatcar 4230\.2\.2.*--flatcar-version 4230\.2\.2/);
    await expectRefused({ extensions: [pinned] }, /pinned-1\.0\.0-x86-64\.raw: release-pinned \(VERSION_ID=4230\.2\.1\): say which Flatcar release is published with --flatcar-version/);
    const result = await publish({ extensions: [pinned], flatcarVersion: '4230.2.1' });
    expect(result.index.extensions.pinned!.images[0]!.compatibility).toEqual({ id: 'flatcar', versionId: '4230.2.1' });
  });

  it('lists the problems of every image and extension in one refusal', async () => {
    const a = await tiny('multi-a', { sources: { [`${site.url}/tool-1.0.0`]: { url: `${site.url}/repackaged`, sha256: sha(REPACKAGED) } } });
    const b = await tiny('multi-b', { flatcarVersion: '1.2.3' });
    await expectRefused({ extensions: [a, b], flatcarVersion: '4230.2.1' }, /multi-a-1\.0\.0-x86-64\.raw: built from source overrides[\s\S]*multi-b-1\.0\.0-x86-64\.raw: built for Flatcar 1\.2\.3/);
  });

  it('publishes a boot test record beside its image, and refuses failed, foreign or missing ones when tests are required', async () => {
    const tested = await tiny('tested');
    const image = imageOf(tested);
    const bytes = await readFile(image);
    const record = (overrides: Partial<TestRecord> = {}): TestRecord => ({
      testRecordVersion: 1,
      extension: 'tested',
      version: '1.0.0',
      arch: 'x86-64',
      image: { file: 'tested-1.0.0-x86-64.raw', sha256: sha(bytes), bytes: bytes.length },
      ok: true,
      testbed: 'nspawn',
      kernel: os.release(),
      flatcarVersion: '4230.2.1',
      durationMs: 3200,
      checks: [{ kind: 'command', name: 'test -x /usr/bin/tool', ok: true, exitCode: 0, durationMs: 12 }],
      ...overrides,
    });
    const recordFile = image.replace(/\.raw$/, '.test.json');
    await expectRefused({ extensions: [tested], requireTests: true }, /tested-1\.0\.0-x86-64\.raw: has no boot test record \(tested-1\.0\.0-x86-64\.test\.json\)/);
    await writeFile(recordFile, JSON.stringify(record({ ok: false, problem: 'timed out' })));
    await expectRefused({ extensions: [tested] }, /tested-1\.0\.0-x86-64\.test\.json says its boot test failed \(timed out\)/);
    await writeFile(recordFile, JSON.stringify(record({ image: { file: 'tested-1.0.0-x86-64.raw', sha256: sha(REPACKAGED), bytes: bytes.length } })));
    await expectRefused({ extensions: [tested] }, /booted tested-1\.0\.0-x86-64\.raw with sha256 [0-9a-f]{64}, not these bytes/);

    await writeFile(recordFile, `${JSON.stringify(record(), null, 2)}\n`);
    await publish({ extensions: [tested], requireTests: true });
    const published = path.join(tree, 'tested/tested-1.0.0-x86-64.test.json');
    expect(await readFile(published)).toEqual(await readFile(recordFile));
    const index = parseReleaseIndex(await readFile(path.join(tree, 'index.json'), 'utf8'), 'index.json');
    expect(index.extensions.tested!.images[0]!.test).toEqual({ path: 'tested/tested-1.0.0-x86-64.test.json', sha256: sha(await readFile(recordFile)), testbed: 'nspawn' });
    expect(await readFile(path.join(tree, 'SHA256SUMS'), 'utf8')).toContain(`${sha(await readFile(recordFile))}  tested/tested-1.0.0-x86-64.test.json`);
    expect(await readFile(path.join(tree, 'tested/index.html'), 'utf8')).toContain('boot test');

    // verify-release flags the images published without a record, and with --require-tests fails on them.
    const report = await verifyReleaseTree(tree);
    expect(report.untested).toContain('good/good-1.0.0-x86-64.raw');
    expect(report.untested).not.toContain('tested/tested-1.0.0-x86-64.raw');
    await expect(verifyReleaseTree(tree, { requireTests: true })).rejects.toThrow(/good\/good-1\.0\.0-x86-64\.raw has no boot test record/);
    // A test record edited in the tree no longer matches the signed global SHA256SUMS.
    await writeFile(published, JSON.stringify(record({ kernel: 'other' })));
    await expect(verifyReleaseTree(tree)).rejects.toThrow(/tested\/tested-1\.0\.0-x86-64\.test\.json has sha256 [0-9a-f]{64}, but SHA256SUMS says/);
  });
});
