import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';

export interface TreeEntry {
  /** Image path, e.g. /usr/bin/containerd */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  size: number;
  target?: string;
}

/** Lists a staged tree in a stable (byte-wise sorted) order; the build record and lint both read this. */
export async function listTree(root: string): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  const visit = async (relative: string): Promise<void> => {
    const names = (await readdir(path.join(root, relative))).sort();
    for (const name of names) {
      const rel = `${relative}/${name}`;
      const full = path.join(root, rel);
      const stat = await lstat(full);
      const mode = stat.mode & 0o7777;
      if (stat.isDirectory()) {
        entries.push({ path: rel, type: 'dir', mode, size: 0 });
        await visit(rel);
      } else if (stat.isSymbolicLink()) {
        entries.push({ path: rel, type: 'symlink', mode, size: 0, target: await readlink(full) });
      } else {
        entries.push({ path: rel, type: stat.isFile() ? 'file' : 'other', mode, size: stat.size });
      }
    }
  };
  await visit('');
  return entries;
}

export function formatMode(mode: number): string {
  return `0${mode.toString(8)}`;
}

export interface SerializedEntry {
  path: string;
  type: TreeEntry['type'];
  mode: string;
  size: number;
  target?: string;
}

/** The file list as build records and `inspect` print it: octal modes, no undefined fields. */
export function serializeTree(tree: readonly TreeEntry[]): SerializedEntry[] {
  return tree.map(({ mode, target, ...rest }) => ({ ...rest, mode: formatMode(mode), ...(target === undefined ? {} : { target }) }));
}
