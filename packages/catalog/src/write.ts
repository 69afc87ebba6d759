import { mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '@bakehouse/builder';
import { RELEASE_INDEX_FILE, type ExtensionManifest, type ReleaseIndex } from '@bakehouse/schema';
import { CatalogError } from './errors.js';
import { renderCatalog, type CatalogAssets } from './render.js';

export interface WriteCatalogOptions {
  /** The release tree: index.json's paths are relative to it, and the pages are written into it. */
  treeDir: string;
  index: ReleaseIndex;
  manifests: ExtensionManifest[];
}

const ASSETS_SOURCE = new URL('../assets/', import.meta.url);

/** The stylesheet and script shipped with this package (packages/catalog/assets). */
export async function readCatalogAssets(): Promise<CatalogAssets> {
  const files = (await readdir(ASSETS_SOURCE)).filter((f) => /\.(css|js)$/.test(f)).sort();
  const assets: Record<string, string> = {};
  for (const file of files) assets[file] = await readFile(new URL(file, ASSETS_SOURCE), 'utf8');
  return assets;
}

/**
 * Writes the catalog into a release tree: index.html, EXT/index.html for each extension and
 * the assets. Snippet texts are read from the files index.json lists. Every file is replaced
 * atomically, pages before the index that links to them; files whose content is unchanged are
 * left alone, so republishing the same tree touches nothing.
 */
export async function writeCatalog(options: WriteCatalogOptions): Promise<void> {
  const { treeDir, index, manifests } = options;
  const snippets = await readSnippets(treeDir, index);
  const files = renderCatalog({ index, manifests, snippets, assets: await readCatalogAssets() });
  for (const [relative, content] of files) {
    const target = path.join(treeDir, relative);
    const current = await readFile(target, 'utf8').catch(() => undefined);
    if (current === content) continue;
    await mkdir(path.dirname(target), { recursive: true });
    await writeFileAtomic(target, content);
  }
}

async function readSnippets(treeDir: string, index: ReleaseIndex): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  for (const [name, ext] of Object.entries(index.extensions).sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const [i, snippet] of ext.snippets.entries()) {
      const field = `${RELEASE_INDEX_FILE}: extensions.${name}.snippets[${i}].path`;
      const normalized = path.posix.normalize(snippet.path);
      if (path.posix.isAbsolute(snippet.path) || normalized !== snippet.path || normalized.startsWith('../'))
        throw new CatalogError(`${field} is "${snippet.path}": give a normalised path relative to the release tree, such as ${name}/${name}.bu`);
      if (texts.has(snippet.path)) continue;
      const file = path.join(treeDir, snippet.path);
      const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new CatalogError(
          `${field} names ${file}, which cannot be read (${error.code ?? error.message}): write the snippets into the tree before the catalog`,
        );
      });
      texts.set(snippet.path, text);
    }
  }
  return texts;
}
