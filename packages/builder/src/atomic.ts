import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ownedName, sweepAbandoned } from './scratch.js';

/**
 * Lets `write` produce a file under a temporary name beside `target`, then renames it into
 * place. rename() within a directory is atomic, so readers (and parallel builds) see either
 * the old file or the complete new one; a failure leaves nothing, and a crash leaves only the
 * hidden temporary name, which `sweepPartials` removes once its owner is gone.
 */
export async function replaceAtomically<T>(target: string, write: (partial: string) => Promise<T>): Promise<T> {
  const partial = path.join(path.dirname(target), `${ownedName(`.${path.basename(target)}.`)}${randomBytes(6).toString('hex')}.partial`);
  try {
    const result = await write(partial);
    await rename(partial, target);
    return result;
  } finally {
    await rm(partial, { force: true });
  }
}

export function writeFileAtomic(file: string, content: string): Promise<void> {
  return replaceAtomically(file, (partial) => writeFile(partial, content));
}

/** Removes the temporary files that killed builds left in `dir`. */
export function sweepPartials(dir: string): Promise<string[]> {
  return sweepAbandoned(dir, '.');
}
