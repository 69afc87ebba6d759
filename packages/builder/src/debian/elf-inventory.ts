import { lstat } from 'node:fs/promises';
import path from 'node:path';
import type { TreeEntry } from '../tree.js';
import type { DebianArch } from './arch.js';
import { ET_DYN, ET_EXEC, readElf, type ElfInfo } from './elf.js';
import { RelocationError } from './errors.js';

/** An ELF file of the closure's architecture that the loader maps: what relocation patches. */
export interface LoadableElf {
  /** Closure-relative, e.g. usr/bin/hello. */
  path: string;
  info: ElfInfo;
}

/**
 * Finds the loadable ELF files of `arch` in the closure, in tree order. Hard links to one file
 * are listed once (under the first path), since patching one name patches them all. ELF files of
 * other machines that cannot be run (firmware, BPF objects) are left alone; a foreign dynamic
 * executable means the closure was resolved for the wrong architecture.
 */
export async function findLoadableElfs(closureRoot: string, tree: readonly TreeEntry[], arch: DebianArch): Promise<LoadableElf[]> {
  const elfs: LoadableElf[] = [];
  const foreign: string[] = [];
  const seenInodes = new Set<string>();
  for (const entry of tree) {
    if (entry.type !== 'file') continue;
    const file = path.join(closureRoot, entry.path);
    const info = await readElf(file);
    if (!info || (info.type !== ET_EXEC && info.type !== ET_DYN)) continue;
    if (info.machine !== arch.elfMachine) {
      if (info.interpreter !== undefined) foreign.push(`${entry.path.slice(1)} (e_machine 0x${info.machine.toString(16)})`);
      continue;
    }
    if (!info.is64LittleEndian) continue;
    const { dev, ino } = await lstat(file);
    if (seenInodes.has(`${dev}:${ino}`)) continue;
    seenInodes.add(`${dev}:${ino}`);
    elfs.push({ path: entry.path.slice(1), info });
  }
  if (foreign.length > 0) {
    throw new RelocationError(
      `Cannot relocate ${closureRoot} for ${arch.debian}: it holds executables for another architecture: ${foreign.slice(0, 5).join(', ')}` +
        `${foreign.length > 5 ? ` and ${foreign.length - 5} more` : ''}. Resolve and unpack the closure for ${arch.debian}, or relocate it for its own architecture.`,
    );
  }
  return elfs;
}
