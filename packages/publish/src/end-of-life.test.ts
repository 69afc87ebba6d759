import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseReleaseIndex, withLockedLines } from '@bakehouse/schema';
import { openSigner, type Signer } from './gpg.js';
import { publishTree } from './tree.js';
import { buildTinyExtension } from './test-support/images.js';
import { testKeyring } from './test-support/keys.js';

let root: string;
let keyring: Awaited<ReturnType<typeof testKeyring>>;
let signer: Signer;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-publish-eol-'));
  keyring = await testKeyring();
  signer = await openSigner({ gnupgHome: keyring.home, env: {} });
});
afterAll(async () => {
  await signer.close();
  await keyring.close();
  await rm(root, { recursive: true, force: true });
});

it("keeps a line its lock retired after upstream's end of life in index.json, marked with the date, and the catalog warns hosts on it", async () => {
  const out = path.join(root, 'tree');
  const publish = (extension: Awaited<ReturnType<typeof buildTinyExtension>>) =>
    publishTree({ outDir: out, extensions: [extension], signer, baseUrl: 'https://sysext.example.org/flatcar' });

  const both = await buildTinyExtension(path.join(root, 'before'), { name: 'kube', lines: ['1.35', '1.34'] }, [
    { version: '1.35.2', line: '1.35' },
    { version: '1.34.7', line: '1.34' },
  ]);
  await publish(both);

  // The next bump dropped 1.34: the lock retires it, and its manifest's lines come from the lock.
  const built = await buildTinyExtension(path.join(root, 'after'), { name: 'kube', lines: ['1.35'] }, [{ version: '1.35.2', line: '1.35' }]);
  const lock = { ...built.lock, retiredLines: [{ line: '1.34', endOfLife: '2026-10-27' }] };
  const manifest = withLockedLines({ ...built.manifest, lines: undefined, lineSource: { type: 'kubernetes-schedule' } }, lock);
  const { index } = await publish({ ...built, manifest, lock });

  const kube = index.extensions.kube!;
  expect(kube.lines).toEqual(['1.35']);
  expect(kube.images.map((i) => [i.version, i.line, i.endOfLife])).toEqual([
    ['1.34.7', '1.34', '2026-10-27'],
    ['1.35.2', '1.35', undefined],
  ]);
  expect(parseReleaseIndex(await readFile(path.join(out, 'index.json'), 'utf8'), 'index.json')).toEqual(index);
  // Still in the signed sums: hosts on 1.34 keep verifying what they run.
  expect(await readFile(path.join(out, 'kube/SHA256SUMS'), 'utf8')).toContain('kube-1.34.7-x86-64.raw');

  const page = await readFile(path.join(out, 'kube/index.html'), 'utf8');
  expect(page).toMatch(/<div class="end-of-life-notice" role="alert">.*upstream no longer supports these lines.*<li>1\.34: end of life on 2026-10-27<\/li>/s);
  expect(page).toMatch(/1\.34\.7 <span class="muted">\(1\.34\)<\/span> <span class="end-of-life"[^>]*>end of life<\/span>/);

  // A later publish without the extension keeps the mark from the previous index.
  const other = await buildTinyExtension(path.join(root, 'other'), { name: 'hello' }, [{ version: '1.0.0' }]);
  const again = await publishTree({ outDir: out, extensions: [other], signer });
  expect(again.index.extensions.kube!.images.find((i) => i.line === '1.34')?.endOfLife).toBe('2026-10-27');
}, 120_000);
