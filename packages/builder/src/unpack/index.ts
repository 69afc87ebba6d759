import path from 'node:path';
import type { PlannedInput } from '../plan.js';
import { MissingToolError } from '../tools.js';
import { type ArchiveContext, ExtractError, UnsafeArchiveError } from './errors.js';
import { stageArchive } from './stage-archive.js';
import { stageSingleFile } from './stage-single-file.js';
import { StagingArea } from './staging-area.js';

export { ExtractError, UnsafeArchiveError } from './errors.js';

export interface UnpackOptions {
  /** Total bytes the unpack may write (default 8 GiB); going over is an ExtractError, as compression bombs would. */
  maxBytes?: number;
}

export interface UnpackedFile {
  /** Path in the image, e.g. /usr/bin/ctr */
  path: string;
  type: 'file' | 'symlink';
  mode: number;
  size: number;
}

const DEFAULT_MAX_BYTES = 8 * 1024 ** 3;

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
  const staging = await StagingArea.open(stageDir, context, opts.maxBytes ?? DEFAULT_MAX_BYTES);
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
