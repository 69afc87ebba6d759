import { chmod, lstat, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConversionPlan } from './plan.js';

/**
 * Builds the converted tree at `filesDir` (which must not exist) from the unpacked image in
 * `rawDir`, on the same file system: entries are moved, rewritten units written with the
 * original's mode. The tree appears complete under its name or not at all.
 */
export async function stageConversion(plan: ConversionPlan, rawDir: string, filesDir: string): Promise<void> {
  const staging = await mkdtemp(path.join(path.dirname(filesDir), `.${path.basename(filesDir)}-`));
  try {
    await chmod(staging, 0o755);
    for (const entry of plan.entries) {
      const source = path.join(rawDir, entry.from);
      const target = path.join(staging, entry.to);
      await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
      if (entry.text === undefined) {
        await rename(source, target);
        continue;
      }
      const { mode } = await lstat(source);
      await writeFile(target, entry.text);
      await chmod(target, mode & 0o777);
    }
    await rename(staging, filesDir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}
