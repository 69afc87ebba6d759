/**
 * A download that could not be made available in the cache. The message says which input,
 * from where, what went wrong and what to do about it, so the CLI prints it without a stack.
 */
export class FetchError extends Error {
  override readonly name = 'FetchError';
  constructor(
    /** The manifest's name for the input. */
    readonly input: string,
    /** Where it was being fetched from: the upstream URL, or the mirror's URL or file. */
    readonly url: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function invalidPin(input: string, url: string, sha256: string): FetchError {
  return new FetchError(input, url, `${input}: "${sha256}" is not a sha256 pin (expected 64 hexadecimal digits)`);
}

export function checksumMismatch(input: string, url: string, expected: string, actual: string, fromMirror: boolean): FetchError {
  const fix = fromMirror
    ? 'The mirror holds a different file under this sha256: rebuild that mirror entry from the upstream release.'
    : 'Check the sha256 pin in the extension manifest against the upstream release (an asset re-published upstream, or a pin copied from another version or architecture, causes this).';
  return new FetchError(
    input,
    url,
    `${input}: checksum mismatch for ${url}\n  expected sha256 ${expected}\n  actual   sha256 ${actual}\n${fix}`,
  );
}

export function offline(input: string, url: string, sha256: string, cacheDir: string, mirror: string | undefined): FetchError {
  const searched = mirror === undefined ? `the download cache (${cacheDir})` : `the download cache (${cacheDir}) or the mirror (${mirror})`;
  return new FetchError(
    input,
    url,
    `${input}: offline, and sha256 ${sha256} is not in ${searched}, so ${url} would have to be downloaded.\n` +
      `Pass --mirror <dir-or-url> holding sha256/${sha256}, or run the build once online to fill the cache.`,
  );
}

export function downloadFailed(input: string, url: string, attempts: number, cause: unknown): FetchError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  return new FetchError(
    input,
    url,
    `${input}: download of ${url} failed${tries}: ${reason}\n` +
      'If that site is unreachable from here, build from a mirror (--mirror <dir-or-url>) or a source override file (--sources <file>).',
    { cause },
  );
}

/** Errors that mean the cache's file system cannot take the file: no retry or other source helps. */
const STORAGE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);

export function isStorageError(error: unknown): error is NodeJS.ErrnoException {
  return STORAGE_ERRORS.has((error as NodeJS.ErrnoException | undefined)?.code ?? '');
}

export function cacheUnwritable(input: string, url: string, cacheDir: string, cause: NodeJS.ErrnoException): FetchError {
  const why = cause.code === 'EROFS' ? 'is on a read-only file system' : 'has no space left on its file system';
  return new FetchError(
    input,
    url,
    `${input}: cannot store ${url} in the download cache: ${cacheDir} ${why} (${cause.code}).\n` +
      'Nothing partial was kept. Free space there, or point BAKEHOUSE_CACHE_DIR (--cache-dir) at a larger file system.',
    { cause },
  );
}
