import { TransientError, withRetries } from '@bakehouse/builder';
import { UpstreamError } from './errors.js';

export interface HttpSettings {
  /** Further attempts after network errors and 5xx answers. Default 3. */
  retries?: number;
  /** Backoff before the first retry, doubling after. Default 500. */
  retryDelayMs?: number;
  /** Per attempt. Default 30000. */
  timeoutMs?: number;
}

export interface TextResponse {
  text: string;
  headers: Headers;
}

/**
 * GETs a small text or JSON document: a release list, a checksum file. Node's fetch is fine for
 * these (the builder's own HTTP client exists to keep downloaded archives byte-exact). Network
 * errors and 5xx are retried; 403 and 429 are not, since rate limits last far longer than a backoff.
 */
export async function getText(url: string, settings: HttpSettings = {}, headers: Record<string, string> = {}): Promise<TextResponse> {
  const retries = settings.retries ?? 3;
  try {
    return await withRetries(() => getOnce(url, settings.timeoutMs ?? 30_000, headers), { retries, baseDelayMs: settings.retryDelayMs ?? 500 });
  } catch (error) {
    if (!(error instanceof TransientError)) throw error;
    throw new UpstreamError(url, `${error.message}${retries > 0 ? ` (after ${retries + 1} attempts)` : ''}`);
  }
}

/** GETs a small binary document, such as a detached signature, byte for byte. */
export async function getBytes(url: string, settings: HttpSettings = {}): Promise<Buffer> {
  const retries = settings.retries ?? 3;
  try {
    return await withRetries(() => getOnce(url, settings.timeoutMs ?? 30_000, {}, async (response) => Buffer.from(await response.arrayBuffer())), {
      retries,
      baseDelayMs: settings.retryDelayMs ?? 500,
    });
  } catch (error) {
    if (!(error instanceof TransientError)) throw error;
    throw new UpstreamError(url, `${error.message}${retries > 0 ? ` (after ${retries + 1} attempts)` : ''}`);
  }
}

async function getOnce(url: string, timeoutMs: number, headers: Record<string, string>): Promise<TextResponse>;
async function getOnce<T>(url: string, timeoutMs: number, headers: Record<string, string>, read: (response: Response) => Promise<T>): Promise<T>;
async function getOnce(
  url: string,
  timeoutMs: number,
  headers: Record<string, string>,
  read: (response: Response) => Promise<unknown> = async (response) => ({ text: await response.text(), headers: response.headers }),
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { 'user-agent': 'bakehouse', ...headers }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new TransientError(`GET ${url} failed: ${reason(error)}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    const message = `GET ${url}: HTTP ${response.status} ${response.statusText}`.trimEnd();
    if (response.status >= 500 || response.status === 408) throw new TransientError(message);
    throw new UpstreamError(url, message, response.status);
  }
  try {
    return await read(response);
  } catch (error) {
    throw new TransientError(`GET ${url}: the answer broke off: ${reason(error)}`);
  }
}

/** fetch() wraps the useful part ("connect ECONNREFUSED ...") in a generic "fetch failed". */
function reason(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : (error as Error).message;
}
