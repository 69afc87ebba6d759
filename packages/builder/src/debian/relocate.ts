import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { listTree } from '../tree.js';
import { requireTool } from '../tools.js';
import type { Arch } from '@bakehouse/schema';
import { DEBIAN_ARCH } from './arch.js';
import { containSymlinks } from './contain-symlink.js';
import { findLoadableElfs, type LoadableElf } from './elf-inventory.js';
import { RelocationError } from './errors.js';
import { syncGnuProperty } from './gnu-property.js';
import { libraryDirs } from './library-dirs.js';
import { findLoader } from './loader.js';
import { patchelf } from './patchelf.js';
import { stripSetid } from './setid.js';

export interface RelocationReport {
  /** PT_INTERP now set on every dynamic executable (an image path under the prefix); undefined when there is none. */
  interpreter: string | undefined;
  /** DT_RUNPATH now set on every ELF file that needs libraries, in search order. */
  runpath: string[];
  /** ELF files given the interpreter and the RUNPATH (includes libc.so.6, which has a PT_INTERP so it can be run). */
  executables: number;
  /** ELF files without PT_INTERP given the RUNPATH: shared libraries and plugins. */
  libraries: number;
  /** Symlinks that pointed outside the closure (absolute, or ".." past its root), now relative links inside it. */
  symlinksRewritten: number;
  /** Closure-relative paths whose setuid/setgid bits were cleared. */
  setidStripped: string[];
  /**
   * DT_NEEDED sonames that no file of the closure carries (typically of an excluded package).
   * The loader falls back to the host's libraries for these, which is only fine for a library
   * the host is known to provide.
   */
  unresolvedLibraries: Array<{ file: string; library: string }>;
}

/**
 * Image paths: absolute and normalized (no segment starts with ".", so no "." or ".."), and free of
 * what ld.so gives meaning to in a RUNPATH (":" separates, "$" expands).
 */
const PREFIX = /^(\/[A-Za-z0-9_+-][A-Za-z0-9._+-]*)+$/;

/**
 * Makes the closure at `closureRoot` (laid out like /, as extractDebs leaves it) self-contained
 * for the image path `prefix` it will be mounted at: dynamic executables load the closure's own
 * glibc loader, every ELF file finds its libraries in the closure's library directories first
 * (DT_RUNPATH is not inherited, so each file gets its own), symlinks stay inside the closure, and
 * no setuid/setgid bit survives. Patching is done in place with the real patchelf; the same
 * input gives the same bytes. Files are visited in sorted order.
 */
export async function relocateClosure(closureRoot: string, prefix: string, arch: Arch): Promise<RelocationReport> {
  if (!PREFIX.test(prefix)) {
    throw new RelocationError(`Cannot relocate to "${prefix}": the prefix must be an absolute, normalized image path like /usr/lib/bakehouse/podman, without ":", "$" or spaces`);
  }
  if (!(await stat(closureRoot).catch(() => undefined))?.isDirectory()) {
    throw new RelocationError(`Cannot relocate ${closureRoot}: it is not a directory (unpack the closure there with extractDebs first)`);
  }
  const debianArch = DEBIAN_ARCH[arch];
  await requireTool('patchelf');

  const tree = await listTree(closureRoot);
  const setidStripped = await stripSetid(closureRoot, tree);
  const symlinksRewritten = await containSymlinks(closureRoot, tree);
  const elfs = await findLoadableElfs(closureRoot, tree, debianArch);
  const executables = elfs.filter((elf) => elf.info.interpreter !== undefined);
  const libraries = elfs.filter((elf) => elf.info.interpreter === undefined && elf.info.needed.length > 0);
  const loader = executables.length > 0 ? await findLoader(closureRoot, debianArch, executables) : undefined;
  const { dirs, unresolved } = libraryDirs(tree, elfs, debianArch);

  const interpreter = loader === undefined ? undefined : `${prefix}/${loader}`;
  const runpath = dirs.map((dir) => `${prefix}/${dir}`);
  const pageSize = ['--page-size', String(debianArch.pageSize)];
  // The loader itself and static-PIE files have no DT_NEEDED: a RUNPATH would mean nothing to them, and the loader must stay untouched.
  const patches: Array<[LoadableElf, string[]]> = [
    ...executables.map((elf): [LoadableElf, string[]] => [elf, [...pageSize, '--set-interpreter', interpreter!, '--set-rpath', runpath.join(':')]]),
    ...libraries.map((elf): [LoadableElf, string[]] => [elf, [...pageSize, '--set-rpath', runpath.join(':')]]),
  ];
  const limit = pLimit(os.availableParallelism());
  await Promise.all(
    patches.map(([elf, args]) =>
      limit(async () => {
        const file = path.join(closureRoot, elf.path);
        await patchelf(file, args);
        await syncGnuProperty(file);
      }),
    ),
  );

  return { interpreter, runpath, executables: executables.length, libraries: libraries.length, symlinksRewritten, setidStripped, unresolvedLibraries: unresolved };
}
