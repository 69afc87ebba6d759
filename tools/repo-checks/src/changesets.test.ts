import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cloneRepository } from '@bakehouse/fixtures';

let clone: string;
beforeAll(async () => {
  clone = await cloneRepository();
}, 120_000);
afterAll(() => rm(clone, { recursive: true, force: true }));

it('versions extension packages and writes their changelog', async () => {
  const pkgFile = path.join(clone, 'extensions/containerd/package.json');
  const before = JSON.parse(await readFile(pkgFile, 'utf8')).version as string;
  await writeFile(path.join(clone, '.changeset/fix-unit.md'), '---\n"containerd": patch\n---\n\nFix a typo in containerd.service.\n');
  const result = await execa('pnpm', ['exec', 'changeset', 'version'], { cwd: clone, reject: false, all: true });
  expect(result.exitCode, result.all).toBe(0);
  const after = JSON.parse(await readFile(pkgFile, 'utf8')).version as string;
  expect(after).not.toBe(before);
  expect(await readFile(path.join(clone, 'extensions/containerd/CHANGELOG.md'), 'utf8')).toContain('Fix a typo in containerd.service.');
}, 120_000);
