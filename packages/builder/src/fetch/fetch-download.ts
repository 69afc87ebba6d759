import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheEntriesDir, cacheEntryPath, isIntactEntry, sweepCache, writeEntry } from './cache.js';
import { cacheUnwritable, checksumMismatch, downloadFailed, FetchError, invalidPin, isStorageError, offline } from './errors.js';
import { HttpStatusError, openHttp, TransientError } from './http.js';
import type { ProgressSink } from './progress.js';
import { withRetries } from './retry.js';

export interface Download {
  /** The input's name in the manifest; used in messages. */
  name: string;
  url: string;
  sha256: string;
}

export interface FetchOptions {
  /** Content-addressed cache root: entries live at <cacheDir>/sha256/<hex>. */
  cacheDir: string;
  /** A directory or an http(s) base URL laid out like the cache: <mirror>/sha256/<hex>. */
  mirror?: string;
  /** Use nothing but the cache and the mirror (a mirror URL is the air-gapped source, so it stays allowed). */
  offline?: boolean;
  /** Further attempts after network errors, 5xx answers and truncated bodies. Default 3. */
  retries?: number;
  /** Backoff before the first retry, doubling after. Default 500. */
  retryDelayMs?: number;
  /** Per attempt: how long connecting, or a silence mid-download, may last. Default 30000. */
  timeoutMs?: number;
  progress?: ProgressSink;
}

/** A download whose sha256 is not known yet. */
export type UnpinnedDownload = Omit<Download, 'sha256'>;
/** No mirror or offline mode: both find files by their hash. */
export type UnpinnedFetchOptions = Omit<FetchOptions, 'mirror' | 'offline'>;

/** One fetch: what is being fetched, where it goes, and the settings with defaults filled in. */
interface Job {
  name: string;
  /** Undefined for an unpinned download, which keeps whatever arrives. */
  sha256: string | undefined;
  cacheDir: string;
  retries: number;
  retryDelayMs: number;
  timeoutMs: number;
  progress: ProgressSink | undefined;
}

/**
 * Makes the pinned file available in the cache and returns its absolute path there.
 * Sources in order: the cache, the mirror, the URL (unless offline).
 */
export async function fetchDownload(download: Download, opts: FetchOptions): Promise<string> {
  const { name, url } = download;
  if (!/^[0-9a-f]{64}$/i.test(download.sha256)) throw invalidPin(name, url, download.sha256);
  const sha256 = download.sha256.toLowerCase();
  const job = { ...newJob(name, opts), sha256 };
  const entry = cacheEntryPath(opts.cacheDir, sha256);

  if (await isIntactEntry(entry, sha256)) return entry;
  await mkdir(cacheEntriesDir(opts.cacheDir), { recursive: true });
  await sweepCache(opts.cacheDir);

  if (opts.mirror !== undefined) {
    try {
      if (await fetchFromMirror(job, opts.mirror)) return entry;
    } catch (error) {
      // An air-gapped build has nowhere else to go; an online one can still reach upstream.
      if (opts.offline) throw error;
      job.progress?.note(`${(error as Error).message}\nFalling back to ${url}`);
    }
  }
  if (opts.offline) throw offline(name, url, sha256, opts.cacheDir, opts.mirror);

  const actual = await downloadWithRetries(job, url).catch((error: unknown) => {
    throw asFetchError(job, url, error);
  });
  if (actual !== sha256) throw checksumMismatch(name, url, sha256, actual, false);
  return entry;
}

/**
 * Downloads a file from its URL into the cache, whatever its hash, and returns that hash and the
 * entry. `bakehouse bump` computes pins this way when upstream publishes none, and checks published
 * ones against what the URL really serves (fetchDownload would be content with a cached entry).
 */
export async function fetchUnpinned(download: UnpinnedDownload, opts: UnpinnedFetchOptions): Promise<{ sha256: string; path: string }> {
  const job: Job = { ...newJob(download.name, opts), sha256: undefined };
  await mkdir(cacheEntriesDir(opts.cacheDir), { recursive: true });
  await sweepCache(opts.cacheDir);
  const sha256 = await downloadWithRetries(job, download.url).catch((error: unknown) => {
    throw asFetchError(job, download.url, error);
  });
  return { sha256, path: cacheEntryPath(opts.cacheDir, sha256) };
}

function newJob(name: string, opts: UnpinnedFetchOptions): Omit<Job, 'sha256'> {
  return {
    name,
    cacheDir: opts.cacheDir,
    retries: opts.retries ?? 3,
    retryDelayMs: opts.retryDelayMs ?? 500,
    timeoutMs: opts.timeoutMs ?? 30_000,
    progress: opts.progress,
  };
}

/** True when the mirror supplied the entry; false when the mirror does not have it. */
async function fetchFromMirror(job: Job & { sha256: string }, mirror: string): Promise<boolean> {
  const source = mirrorSource(mirror, job.sha256);
  let actual: string | undefined;
  try {
    actual = source.isUrl ? await downloadWithRetries(job, source.location) : await copyFromFile(job, source.location);
  } catch (error) {
    if (error instanceof HttpStatusError && error.status === 404) return false;
    throw asFetchError(job, source.location, error);
  }
  if (actual === undefined) return false;
  if (actual !== job.sha256) throw checksumMismatch(job.name, source.location, job.sha256, actual, true);
  return true;
}

function mirrorSource(mirror: string, sha256: string): { isUrl: boolean; location: string } {
  if (/^https?:\/\//i.test(mirror)) return { isUrl: true, location: new URL(`sha256/${sha256}`, mirror.endsWith('/') ? mirror : `${mirror}/`).href };
  const dir = mirror.startsWith('file:') ? fileURLToPath(mirror) : path.resolve(mirror);
  return { isUrl: false, location: path.join(dir, 'sha256', sha256) };
}

/** Returns the sha256 of the copied bytes, or undefined when the mirror directory lacks the file. */
async function copyFromFile(job: Job, file: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return await writeEntry(job.cacheDir, job.sha256, handle.createReadStream({ autoClose: false }));
  } finally {
    await handle.close();
  }
}

/**
 * Downloads into the cache entry (which only appears if the hash matches, or for an unpinned job
 * always) and returns the sha256 of what arrived. A mismatch is returned, not retried: the same
 * URL would send the same bytes.
 */
function downloadWithRetries(job: Job, url: string): Promise<string> {
  return withRetries(() => downloadOnce(job, url), {
    retries: job.retries,
    baseDelayMs: job.retryDelayMs,
    onRetry: (error, retry) => job.progress?.note(`${job.name}: ${error.message}; retrying (${retry} of ${job.retries})`),
  });
}

async function downloadOnce(job: Job, url: string): Promise<string> {
  const response = await openHttp(url, job.timeoutMs);
  const progress = job.progress?.start(job.name, response.totalBytes);
  try {
    const actual = await writeEntry(job.cacheDir, job.sha256, response.chunks, (bytes) => progress?.tick(bytes));
    if (job.sha256 === undefined || actual === job.sha256) progress?.done();
    else progress?.fail();
    return actual;
  } catch (error) {
    progress?.fail();
    throw error;
  } finally {
    response.close();
  }
}

function asFetchError(job: Job, url: string, error: unknown): FetchError {
  if (error instanceof FetchError) return error;
  if (isStorageError(error)) return cacheUnwritable(job.name, url, job.cacheDir, error);
  return downloadFailed(job.name, url, error instanceof TransientError ? job.retries + 1 : 1, error);
}
