export { defaultCacheDir } from './cache.js';
export { FetchError } from './errors.js';
export { fetchDownload, type Download, type FetchOptions } from './fetch-download.js';
export { createProgress, type DownloadProgress, type ProgressSink } from './progress.js';
