export { defaultCacheDir } from './cache.js';
export { FetchError } from './errors.js';
export { fetchDownload, fetchUnpinned, type Download, type FetchOptions, type UnpinnedDownload, type UnpinnedFetchOptions } from './fetch-download.js';
export { TransientError } from './http.js';
export { withRetries } from './retry.js';
export { createProgress, type DownloadProgress, type ProgressSink } from './progress.js';
