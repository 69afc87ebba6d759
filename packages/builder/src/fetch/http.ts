import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';

/** A failure another attempt may not repeat: network errors, stalls, 5xx, truncated bodies. */
export class TransientError extends Error {}

/** The server gave an answer another attempt would not change (404, 403, …). */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface HttpBody {
  /** From Content-Length; undefined when the server does not say. */
  totalBytes: number | undefined;
  /** Throws TransientError if the body stalls, breaks off, or ends short of Content-Length. */
  chunks: AsyncIterable<Buffer>;
  /** Releases the connection; safe to call after the body was read. */
  close(): void;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
// Same set curl --retry treats as transient (plus every 5xx): overload and rate limiting pass.
const TRANSIENT_STATUSES = new Set([408, 429]);

/**
 * GETs `url`, following redirects (release assets usually redirect to a CDN), and returns the
 * body once a 2xx arrives. Plain node:http rather than fetch(): fetch decodes Content-Encoding,
 * and servers that label .tar.gz files "gzip" would then hand us bytes that do not match the pin.
 */
export async function openHttp(url: string, timeoutMs: number): Promise<HttpBody> {
  let current = new URL(url);
  for (let redirects = 0; ; redirects++) {
    const response = await get(current, timeoutMs);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (REDIRECT_STATUSES.has(status) && location !== undefined) {
      response.destroy();
      if (redirects === MAX_REDIRECTS) throw new HttpStatusError(status, `more than ${MAX_REDIRECTS} redirects, last to ${location}`);
      current = new URL(location, current);
      continue;
    }
    if (status >= 200 && status < 300) {
      const totalBytes = contentLength(response);
      return { totalBytes, chunks: checkedBody(response, current.href, totalBytes), close: () => response.destroy() };
    }
    response.destroy();
    const message = `HTTP ${[status, response.statusMessage].filter(Boolean).join(' ')} from ${current.href}`;
    throw status >= 500 || TRANSIENT_STATUSES.has(status) ? new TransientError(message) : new HttpStatusError(status, message);
  }
}

function get(url: URL, timeoutMs: number): Promise<IncomingMessage> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported URL scheme ${url.protocol} in ${url.href}`);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let response: IncomingMessage | undefined;
    // `timeout` covers connecting and every later silence on the socket, including mid-body.
    const request = client.get(url, { timeout: timeoutMs, headers: { 'accept-encoding': 'identity', 'user-agent': 'bakehouse' } }, (res) => {
      response = res;
      resolve(res);
    });
    request.on('timeout', () => {
      const stalled = new TransientError(`no data from ${url.host} for ${timeoutMs} ms`);
      // Destroying the response first makes the body reader see this reason, not a bare "aborted".
      response?.destroy(stalled);
      request.destroy(stalled);
    });
    request.on('error', (error) => reject(error instanceof TransientError ? error : new TransientError(`${error.message} (${url.href})`)));
  });
}

function contentLength(response: IncomingMessage): number | undefined {
  const value = Number(response.headers['content-length'] ?? Number.NaN);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

async function* checkedBody(response: IncomingMessage, url: string, totalBytes: number | undefined): AsyncGenerator<Buffer> {
  const expected = totalBytes === undefined ? '' : ` of ${totalBytes}`;
  let received = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      received += chunk.length;
      yield chunk;
    }
  } catch (error) {
    if (error instanceof TransientError) throw error;
    throw new TransientError(`download was truncated: connection lost after ${received}${expected} bytes (${(error as Error).message}) from ${url}`);
  }
  // Node reports a connection lost mid-body as an error; counting as well guarantees that a short
  // body is retried as truncated, never reported as a checksum mismatch (which is not retried).
  if (totalBytes !== undefined && received !== totalBytes) {
    throw new TransientError(`download was truncated: received ${received}${expected} bytes from ${url}`);
  }
}
