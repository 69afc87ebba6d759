import { mkdtemp, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogError } from './errors.js';
import { ASSETS_DIR } from './render.js';
import { writeSampleTree, type SampleTree } from './sample.js';
import { writeCatalog } from './write.js';

describe('writeCatalog', () => {
  let tree: string;
  let sample: SampleTree;
  beforeAll(async () => {
    tree = await mkdtemp(path.join(os.tmpdir(), 'catalog-write-'));
    sample = await writeSampleTree(tree, { sizeScale: 1 / 65536 });
  });
  afterAll(() => rm(tree, { recursive: true, force: true }));

  it('writes index.html, a page per extension and the assets into the tree', async () => {
    await writeCatalog({ treeDir: tree, ...sample });
    expect(await readFile(path.join(tree, 'index.html'), 'utf8')).toContain('href="kubernetes/index.html"');
    for (const name of Object.keys(sample.index.extensions))
      expect(await readFile(path.join(tree, name, 'index.html'), 'utf8')).toContain(`<h1>${name}</h1>`);
    expect((await readdir(path.join(tree, ASSETS_DIR))).sort()).toEqual(['catalog.css', 'catalog.js']);
  });

  it('embeds each snippet exactly as the file in the tree holds it', async () => {
    await writeCatalog({ treeDir: tree, ...sample });
    const page = await readFile(path.join(tree, 'docker', 'index.html'), 'utf8');
    const transfer = await readFile(path.join(tree, 'docker', 'docker.transfer'), 'utf8');
    expect(page).toContain(`>${transfer}</code></pre>`);
  });

  it('is idempotent: a second run rewrites nothing and leaves no temporary files', async () => {
    await writeCatalog({ treeDir: tree, ...sample });
    const pages = ['index.html', 'docker/index.html', `${ASSETS_DIR}/catalog.js`];
    const before = await Promise.all(pages.map(async (p) => [await readFile(path.join(tree, p), 'utf8'), (await stat(path.join(tree, p))).mtimeMs]));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writeCatalog({ treeDir: tree, ...sample });
    const after = await Promise.all(pages.map(async (p) => [await readFile(path.join(tree, p), 'utf8'), (await stat(path.join(tree, p))).mtimeMs]));
    expect(after).toEqual(before);
    expect((await readdir(path.join(tree, 'docker'))).filter((f) => f.includes('.partial'))).toEqual([]);
  });

  it('names the index field and the file when a snippet is missing, and writes nothing', async () => {
    const broken = await mkdtemp(path.join(os.tmpdir(), 'catalog-broken-'));
    try {
      const own = await writeSampleTree(broken, { sizeScale: 1 / 65536 });
      await unlink(path.join(broken, 'podman', 'podman.transfer'));
      const attempt = writeCatalog({ treeDir: broken, ...own });
      await expect(attempt).rejects.toThrow(CatalogError);
      await expect(attempt).rejects.toThrow(/index\.json: extensions\.podman\.snippets\[\d+\]\.path names .*podman\/podman\.transfer, which cannot be read \(ENOENT\)/);
      await expect(stat(path.join(broken, 'index.html'))).rejects.toThrow(/ENOENT/);
      await expect(stat(path.join(broken, 'containerd', 'index.html'))).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });

  it('refuses snippet paths that leave the tree', async () => {
    for (const bad of ['../outside.bu', '/etc/passwd', 'docker/../../x.bu']) {
      const index = structuredClone(sample.index);
      index.extensions.docker!.snippets[0]!.path = bad;
      await expect(writeCatalog({ treeDir: tree, index, manifests: sample.manifests })).rejects.toThrow(
        /extensions\.docker\.snippets\[0\]\.path is ".*": give a normalised path relative to the release tree/,
      );
    }
  });
});
