import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '@bakehouse/builder';
import type { BumpResult } from './bump.js';
import { bumpChangeset, lineChangeset } from './changeset.js';

export interface BumpPaths {
  lockFile: string;
  /** The workspace's .changeset directory. */
  changesetDir: string;
}

/**
 * Writes a bump that changed something: the lock, atomically (readers see the old or the new one),
 * and its changesets beside any earlier ones. A failure leaves none of them behind. Returns the first
 * changeset's path; an up-to-date bump writes nothing and returns undefined.
 */
export async function writeBump(result: BumpResult, paths: BumpPaths): Promise<string | undefined> {
  if (result.upToDate) return undefined;
  // A line added or retired has its own changeset; the rest of the bump (patch moves, re-pins) shares one.
  const lineChanges = result.lineChanges ?? [];
  const ownChangeset = new Set(lineChanges.map((c) => c.line));
  const rest = result.changes.filter((c) => c.line === undefined || !ownChangeset.has(c.line));
  const changesets = [
    ...(rest.length > 0 || lineChanges.length === 0 ? [bumpChangeset(result.name, result.lock, rest, result.reason)] : []),
    ...lineChanges.map((change) => lineChangeset(result.name, change)),
  ];
  await mkdir(paths.changesetDir, { recursive: true });
  const written: string[] = [];
  try {
    for (const changeset of changesets) written.push(await createNewFile(paths.changesetDir, changeset.fileName, changeset.text));
    await writeFileAtomic(paths.lockFile, `${JSON.stringify(result.lock, null, 2)}\n`);
  } catch (error) {
    await Promise.all(written.map((file) => rm(file, { force: true })));
    throw error;
  }
  return written[0];
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
