import { execa } from 'execa';
import { RelocationError } from './errors.js';

/** Runs the real patchelf on one file, in place (so hard links to it see the change). */
export async function patchelf(file: string, args: readonly string[]): Promise<void> {
  const result = await execa('patchelf', [...args, file], { reject: false, all: true });
  if (result.exitCode !== 0) {
    throw new RelocationError(
      `patchelf ${args.join(' ')} failed on ${file}:\n${(result.all ?? '').trim()}\n` +
        'patchelf cannot rewrite some unusual ELF layouts: exclude the package that ships this file, or report it with the file attached.',
    );
  }
}
