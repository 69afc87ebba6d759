import { chmod } from 'node:fs/promises';
import path from 'node:path';
import type { TreeEntry } from '../tree.js';

const SETID_BITS = 0o6000;

/**
 * Clears setuid and setgid everywhere in the closure and returns the closure-relative paths it
 * cleared them on. A relocated binary must never run with privileges it was not explicitly given:
 * the image declares setuid files itself, if it needs any.
 */
export async function stripSetid(closureRoot: string, tree: readonly TreeEntry[]): Promise<string[]> {
  const stripped: string[] = [];
  for (const entry of tree) {
    if (entry.type === 'symlink' || (entry.mode & SETID_BITS) === 0) continue;
    await chmod(path.join(closureRoot, entry.path), entry.mode & ~SETID_BITS);
    stripped.push(entry.path.slice(1));
  }
  return stripped;
}
