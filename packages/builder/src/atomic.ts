import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Lets `write` produce a file under a temporary name beside `target`, then renames it into
 * place. rename() within a directory is atomic, so readers (and parallel builds) see either
 * the old file or the complete new one; a failure or crash leaves only the temporary name.
 */
export async function replaceAtomically<T>(target: string, write: (partial: string) => Promise<T>): Promise<T> {
  const partial = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.partial`);
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
