import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { PlannedInput } from '../plan.js';
import { MissingToolError } from '../tools.js';
import { type ArchiveContext, ExtractError, UnsafeArchiveError } from './errors.js';
import { stageArchive } from './stage-archive.js';
import { stageSingleFile } from './stage-single-file.js';
import { StagingArea } from './staging-area.js';

export { ExtractError, UnsafeArchiveError } from './errors.js';

export interface UnpackOptions {
  /** Total bytes the unpack may write (default: `defaultUnpackLimit`); going over is an ExtractError, as compression bombs would. */
  maxBytes?: number;
}

export interface UnpackedFile {
  /** Path in the image, e.g. /usr/bin/ctr */
  path: string;
  type: 'file' | 'symlink';
  mode: number;
  size: number;
}

/** Real release archives expand 2-10×; a bomb expands thousands of times. */
const MAX_EXPANSION = 100;
const MIN_LIMIT = 256 * 1024 ** 2;

/**
 * How much one input may unpack to unless the build says otherwise: 100× its download, and at
 * least 256 MiB. Large genuine inputs get room in proportion; a small bomb is stopped early.
 */
export function defaultUnpackLimit(archiveBytes: number): number {
  return Math.max(MIN_LIMIT, MAX_EXPANSION * archiveBytes);
}

/**
 * Unpacks one downloaded input into `stageDir` as its `extract` rules say, and lists what it
 * wrote, sorted by path. The whole archive is validated, mapped or not; on any error nothing
 * is left behind in `stageDir`.
 */
export async function unpackInput(
  archiveFile: string,
  input: PlannedInput,
  stageDir: string,
  opts: UnpackOptions = {},
): Promise<UnpackedFile[]> {
  const context: ArchiveContext = { input: input.name, archive: archiveName(input, archiveFile) };
  const maxBytes = opts.maxBytes ?? defaultUnpackLimit((await stat(archiveFile)).size);
  const staging = await StagingArea.open(stageDir, context, maxBytes);
  try {
    if (input.kind === 'file') await stageSingleFile(archiveFile, input.extract, staging, context);
    else await stageArchive(archiveFile, input.kind, input.extract, staging, context);
    return await staging.commit();
  } catch (error) {
    if (error instanceof UnsafeArchiveError || error instanceof ExtractError || error instanceof MissingToolError) throw error;
    // Corrupt downloads, decompressor failures, full disks: say which input they hit.
    throw new ExtractError(context, `cannot unpack ${context.archive}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    await staging.discard();
  }
}

/** Downloads may be cached under their hash; the URL's file name is what a user recognises. */
function archiveName(input: PlannedInput, archiveFile: string): string {
  const fromUrl = URL.canParse(input.url) ? path.posix.basename(new URL(input.url).pathname) : '';
  return fromUrl || path.basename(archiveFile);
}
