import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshCheckout, REPO_ROOT } from '@bakehouse/fixtures';

let clone: string;
beforeAll(async () => {
  clone = await freshCheckout(REPO_ROOT);
}, 120_000);
afterAll(() => rm(clone, { recursive: true, force: true }));

it('versions every extension package and writes its changelog, packaging revisions included', async () => {
  const extensions = (await readdir(path.join(clone, 'extensions'))).sort();
  expect(extensions.length).toBeGreaterThan(0);
  const versionOf = async (name: string) => JSON.parse(await readFile(path.join(clone, 'extensions', name, 'package.json'), 'utf8')).version as string;
  const before = Object.fromEntries(await Promise.all(extensions.map(async (name) => [name, await versionOf(name)])));
  await writeFile(path.join(clone, '.changeset/fix-unit.md'), '---\n"containerd": patch\n---\n\nFix a typo in containerd.service.\n');
  // What `bakehouse bump NAME --revision -m WHY` writes, for every extension at once.
  for (const name of extensions)
    await writeFile(path.join(clone, `.changeset/bump-${name}-revision.md`), `---\n"${name}": patch\n---\n\n${name}: packaging fix.\n\nPackaging revision: ${name} 1.0 → 1.0.r1.\n`);

  const result = await execa('pnpm', ['exec', 'changeset', 'version'], { cwd: clone, reject: false, all: true });
  expect(result.exitCode, result.all).toBe(0);
  for (const name of extensions) {
    expect(await versionOf(name), name).not.toBe(before[name]);
    const changelog = await readFile(path.join(clone, 'extensions', name, 'CHANGELOG.md'), 'utf8');
    expect(changelog).toContain(`${name}: packaging fix.`);
    expect(changelog).toContain(`Packaging revision: ${name} 1.0 → 1.0.r1.`);
  }
  expect(await readFile(path.join(clone, 'extensions/containerd/CHANGELOG.md'), 'utf8')).toContain('Fix a typo in containerd.service.');
  // Consumed: the next release starts from an empty .changeset/.
  expect((await readdir(path.join(clone, '.changeset'))).filter((f) => f.endsWith('.md') && f !== 'README.md')).toEqual([]);
}, 120_000);
