import { mkdir } from 'node:fs/promises';
import { requireTool } from '../tools.js';
import { execa } from 'execa';
import { DebExtractionError } from './errors.js';

/**
 * Unpacks .deb files with the real `dpkg-deb -x` into `destRoot`, which ends up laid out like /
 * (usr/bin, usr/lib/<triplet>, …). Maintainer scripts are not run: a relocated closure is never
 * "installed". One after another in the given order, so a path shipped by two packages always
 * ends up with the later one's copy.
 */
export async function extractDebs(debFiles: readonly string[], destRoot: string): Promise<void> {
  await requireTool('dpkg-deb');
  await mkdir(destRoot, { recursive: true });
  for (const debFile of debFiles) {
    const result = await execa('dpkg-deb', ['-x', debFile, destRoot], { reject: false, all: true, env: { LC_ALL: 'C' } });
    if (result.exitCode !== 0) {
      throw new DebExtractionError(
        debFile,
        `Cannot unpack ${debFile} into ${destRoot}; dpkg-deb said:\n${(result.all ?? '').trim()}\n` +
          'A truncated or corrupted download causes this: fetch the .deb again (its sha256 pin is in the lock).',
      );
    }
  }
}
