import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '@bakehouse/builder';
import type { BumpResult } from './bump.js';
import { bumpChangeset } from './changeset.js';

export interface BumpPaths {
  lockFile: string;
  /** The workspace's .changeset directory. */
  changesetDir: string;
}

/**
 * Writes a bump that changed something: the lock, atomically (readers see the old or the new one),
 * and a changeset beside any earlier ones. A failure leaves neither behind. Returns the changeset's
 * path; an up-to-date bump writes nothing and returns undefined.
 */
export async function writeBump(result: BumpResult, paths: BumpPaths): Promise<string | undefined> {
  if (result.upToDate) return undefined;
  const changeset = bumpChangeset(result.name, result.lock, result.changes, result.reason);
  await mkdir(paths.changesetDir, { recursive: true });
  const changesetFile = await createNewFile(paths.changesetDir, changeset.fileName, changeset.text);
  try {
    await writeFileAtomic(paths.lockFile, `${JSON.stringify(result.lock, null, 2)}\n`);
  } catch (error) {
    await rm(changesetFile, { force: true });
    throw error;
  }
  return changesetFile;
}

/** A changeset not yet released may share the name (runc moved twice under one containerd version): never overwrite it. */
async function createNewFile(dir: string, fileName: string, text: string): Promise<string> {
  const { name, ext } = path.parse(fileName);
  for (let n = 1; ; n++) {
    const file = path.join(dir, n === 1 ? fileName : `${name}-${n}${ext}`);
    try {
      await writeFile(file, text, { flag: 'wx' });
      return file;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}
