import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Writes beside the target under a hidden name and renames: readers see the old file or the whole new one, never a part. */
export async function writeFileAtomically(file: string, content: Buffer | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const partial = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    await writeFile(partial, content);
    await rename(partial, file);
  } finally {
    await rm(partial, { force: true });
  }
}
