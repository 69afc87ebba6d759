import path from 'node:path';
import type { TreeEntry } from '../tree.js';
import type { DebianArch } from './arch.js';
import type { LoadableElf } from './elf-inventory.js';

export interface LibraryDirs {
  /** Closure-relative directories, in RUNPATH order. */
  dirs: string[];
  /** Sonames no file of the closure carries: at run time the loader would look for them on the host. */
  unresolved: Array<{ file: string; library: string }>;
}

/**
 * The directories a RUNPATH must list for every DT_NEEDED of the closure to be found inside it:
 * the multiarch library directories that exist (always, since libraries that are dlopen()ed by
 * name, like NSS modules, live there without being anyone's DT_NEEDED), then, sorted, each other
 * directory holding a needed soname the multiarch ones lack (private library directories that the
 * package's own RUNPATH used to name). Multiarch first, so the shared copy of a library wins over
 * a private one with the same soname, as it would on Debian for every binary without a RUNPATH.
 */
export function libraryDirs(tree: readonly TreeEntry[], elfs: readonly LoadableElf[], arch: DebianArch): LibraryDirs {
  const dirsByName = new Map<string, string[]>();
  const realDirs = new Set<string>();
  for (const entry of tree) {
    const relative = entry.path.slice(1);
    if (entry.type === 'dir') realDirs.add(relative);
    if (entry.type !== 'file' && entry.type !== 'symlink') continue;
    const name = path.posix.basename(relative);
    dirsByName.set(name, [...(dirsByName.get(name) ?? []), path.posix.dirname(relative)]);
  }
  const multiarch = [`lib/${arch.triplet}`, `usr/lib/${arch.triplet}`].filter((dir) => realDirs.has(dir));
  const privateDirs = new Set<string>();
  const unresolved: LibraryDirs['unresolved'] = [];
  for (const elf of elfs) {
    for (const library of elf.info.needed) {
      const holders = dirsByName.get(library) ?? [];
      if (holders.length === 0) unresolved.push({ file: elf.path, library });
      else if (!holders.some((dir) => multiarch.includes(dir))) holders.forEach((dir) => privateDirs.add(dir));
    }
  }
  return { dirs: [...multiarch, ...[...privateDirs].sort()], unresolved };
}
