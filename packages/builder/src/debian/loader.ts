import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { loaderCandidates, type DebianArch } from './arch.js';
import type { LoadableElf } from './elf-inventory.js';
import { RelocationError } from './errors.js';

/**
 * The closure-relative path of the closure's own glibc loader: the first candidate that is a
 * regular file (libc6 ships the real file in the multiarch directory and a symlink at the ABI
 * path; pointing PT_INTERP at the file saves the kernel a lookup). Every executable must have asked
 * for this loader: pointing a musl or foreign executable at glibc's loader would break it.
 */
export async function findLoader(closureRoot: string, arch: DebianArch, executables: readonly LoadableElf[]): Promise<string> {
  const strangers = executables.filter((elf) => path.posix.basename(elf.info.interpreter ?? '') !== arch.loaderName);
  if (strangers.length > 0) {
    const listed = strangers.slice(0, 5).map((elf) => `${elf.path} (${elf.info.interpreter})`).join(', ');
    throw new RelocationError(
      `Cannot relocate ${closureRoot}: ${listed} ${strangers.length > 1 ? 'ask' : 'asks'} for a loader other than glibc's ${arch.loaderName}. ` +
        'Exclude the package that ships it, or leave the file out of the closure.',
    );
  }
  const candidates = loaderCandidates(arch);
  const others = executables.length - 1;
  for (const candidate of candidates) {
    const stat = await lstat(path.join(closureRoot, candidate)).catch(() => undefined);
    if (stat?.isFile()) return candidate;
  }
  throw new RelocationError(
    `Cannot relocate ${closureRoot}: ${executables[0]?.path}${others > 0 ? ` and ${others} more executables need` : ' needs'} glibc's loader, ` +
      `but the closure has none of ${candidates.join(', ')}. Keep libc6 in the closure (do not exclude it) and unpack it there.`,
  );
}
