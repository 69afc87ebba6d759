import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createProgress, defaultCacheDir, FetchError, fetchDownload, fetchUnpinned, type FetchOptions } from './index.js';

const PAYLOAD = Buffer.from('bakehouse test payload\n'.repeat(4000));
const PAYLOAD_SHA = sha256(PAYLOAD);

interface TestServer {
  url: string;
  /** Paths requested, in order. */
  requests: string[];
  close(): Promise<void>;
}

let tmp: string;
let cacheDir: string;
let servers: TestServer[];

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-fetch-'));
  cacheDir = path.join(tmp, 'cache');
  servers = [];
});

afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await rm(tmp, { recursive: true, force: true });
});

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Compares by hash: a deep equality check of large Buffers is slow and prints unreadable diffs. */
async function sha256Of(file: string): Promise<string> {
  return sha256(await readFile(file));
}

/** A loopback server whose handler also gets the 0-based number of the request. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<TestServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, res, requests.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const testServer: TestServer = {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(testServer);
  return testServer;
}

function sendPayload(res: ServerResponse, body: Buffer = PAYLOAD): void {
  res.writeHead(200, { 'content-length': body.length });
  res.end(body);
}

/** Promises the whole body, sends part of it, then drops the connection. */
function sendTruncated(res: ServerResponse): void {
  res.writeHead(200, { 'content-length': PAYLOAD.length });
  res.write(PAYLOAD.subarray(0, 1000), () => res.socket?.destroy());
}

function options(extra: Partial<FetchOptions> = {}): FetchOptions {
  return { cacheDir, retryDelayMs: 1, timeoutMs: 5000, ...extra };
}

function input(url: string, sha = PAYLOAD_SHA) {
  return { name: 'containerd', url, sha256: sha };
}

/** Every file under dir (relative paths), temp files included; [] if dir does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** A verified entry and its stat record: what a successful fetch leaves in the cache. */
const ENTRY_AND_RECORD = [path.join('sha256', PAYLOAD_SHA), path.join('verified', PAYLOAD_SHA)];

describe('fetchDownload', () => {
  test('downloads into the content-addressed cache, then serves the cache without asking again', async () => {
    const server = await serve((_req, res) => sendPayload(res));

    const first = await fetchDownload(input(`${server.url}/containerd.tar.gz`), options());

    expect(first).toBe(path.join(cacheDir, 'sha256', PAYLOAD_SHA));
    expect(await sha256Of(first)).toBe(PAYLOAD_SHA);
    expect(await fetchDownload(input(`${server.url}/containerd.tar.gz`), options())).toBe(first);
    expect(server.requests).toEqual(['/containerd.tar.gz']);
    expect(await filesUnder(cacheDir)).toEqual(ENTRY_AND_RECORD);
  });

  test('follows redirects', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/release') res.writeHead(302, { location: '/cdn/blob' }).end();
      else sendPayload(res);
    });

    expect(await sha256Of(await fetchDownload(input(`${server.url}/release`), options()))).toBe(PAYLOAD_SHA);
    expect(server.requests).toEqual(['/release', '/cdn/blob']);
  });

  test('a checksum mismatch names input, expected and actual hash, is not retried and leaves nothing behind', async () => {
    const wrong = Buffer.from('not the pinned file');
    const server = await serve((_req, res) => sendPayload(res, wrong));

    const error = await fetchDownload(input(`${server.url}/containerd.tar.gz`), options()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FetchError);
    const { message } = error as FetchError;
    expect(message).toContain('containerd');
    expect(message).toContain(`${server.url}/containerd.tar.gz`);
    expect(message).toContain(PAYLOAD_SHA);
    expect(message).toContain(sha256(wrong));
    expect(message).toMatch(/pin/);
    expect(server.requests).toHaveLength(1);
    expect(await filesUnder(cacheDir)).toEqual([]);
  });

  test('rejects a pin that is not a sha256 before touching the network', async () => {
    const server = await serve((_req, res) => sendPayload(res));
    await expect(fetchDownload(input(`${server.url}/x`, '../../etc/passwd'), options())).rejects.toThrow(/not a sha256 pin/);
    expect(server.requests).toEqual([]);
  });

  describe('truncated bodies', () => {
    test('are retried until a complete body arrives', async () => {
      const server = await serve((_req, res, n) => (n < 2 ? sendTruncated(res) : sendPayload(res)));

      const file = await fetchDownload(input(`${server.url}/containerd.tar.gz`), options());

      expect(await sha256Of(file)).toBe(PAYLOAD_SHA);
      expect(server.requests).toHaveLength(3);
      expect(await filesUnder(cacheDir)).toEqual(ENTRY_AND_RECORD);
    });

    test('fail with a truncation error once retries run out, leaving nothing behind', async () => {
      const server = await serve((_req, res) => sendTruncated(res));

      const error = await fetchDownload(input(`${server.url}/containerd.tar.gz`), options({ retries: 2 })).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(FetchError);
      expect((error as FetchError).message).toMatch(/truncated/);
      expect((error as FetchError).message).toContain('after 3 attempts');
      expect(server.requests).toHaveLength(3);
      expect(await filesUnder(cacheDir)).toEqual([]);
    });
  });

  describe('HTTP errors', () => {
    test('5xx is retried with backoff', async () => {
      const server = await serve((_req, res, n) => (n < 2 ? res.writeHead(503).end() : sendPayload(res)));

      expect(await sha256Of(await fetchDownload(input(`${server.url}/containerd.tar.gz`), options()))).toBe(PAYLOAD_SHA);
      expect(server.requests).toHaveLength(3);
    });

    test('404 fails at once, naming the status and URL', async () => {
      const server = await serve((_req, res) => res.writeHead(404).end());
      const url = `${server.url}/containerd.tar.gz`;

      const error = await fetchDownload(input(url), options()).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(FetchError);
      expect((error as FetchError).message).toContain('404');
      expect((error as FetchError).message).toContain(url);
      expect(error).toMatchObject({ input: 'containerd', url });
      expect(server.requests).toHaveLength(1);
      expect(await filesUnder(cacheDir)).toEqual([]);
    });

    test('a stalled response times out and is retried', async () => {
      const server = await serve((_req, res, n) => {
        if (n > 0) return sendPayload(res);
        res.writeHead(200, { 'content-length': PAYLOAD.length });
        res.write(PAYLOAD.subarray(0, 10)); // ...and then nothing
      });

      const file = await fetchDownload(input(`${server.url}/containerd.tar.gz`), options({ timeoutMs: 200 }));

      expect(await sha256Of(file)).toBe(PAYLOAD_SHA);
      expect(server.requests).toHaveLength(2);
    });
  });

  describe('mirror', () => {
    test('a mirror directory is used by sha256 instead of the URL', async () => {
      const origin = await serve((_req, res) => sendPayload(res));
      const mirror = path.join(tmp, 'mirror');
      await mkdir(path.join(mirror, 'sha256'), { recursive: true });
      await writeFile(path.join(mirror, 'sha256', PAYLOAD_SHA), PAYLOAD);

      const file = await fetchDownload(input(`${origin.url}/containerd.tar.gz`), options({ mirror }));

      expect(await sha256Of(file)).toBe(PAYLOAD_SHA);
      expect(origin.requests).toEqual([]);
    });

    test('a mirror URL is used by sha256, even offline', async () => {
      const origin = await serve((_req, res) => sendPayload(res));
      const mirror = await serve((_req, res) => sendPayload(res));

      const file = await fetchDownload(input(`${origin.url}/containerd.tar.gz`), options({ mirror: `${mirror.url}/store`, offline: true }));

      expect(await sha256Of(file)).toBe(PAYLOAD_SHA);
      expect(mirror.requests).toEqual([`/store/sha256/${PAYLOAD_SHA}`]);
      expect(origin.requests).toEqual([]);
    });

    test('a mirror without the file falls back to the URL when online', async () => {
      const origin = await serve((_req, res) => sendPayload(res));
      const mirror = await serve((_req, res) => res.writeHead(404).end());

      const file = await fetchDownload(input(`${origin.url}/containerd.tar.gz`), options({ mirror: mirror.url }));

      expect(await sha256Of(file)).toBe(PAYLOAD_SHA);
      expect(mirror.requests).toHaveLength(1);
      expect(origin.requests).toHaveLength(1);
    });
  });

  describe('offline', () => {
    test('a cache hit needs no server', async () => {
      await mkdir(path.join(cacheDir, 'sha256'), { recursive: true });
      await writeFile(path.join(cacheDir, 'sha256', PAYLOAD_SHA), PAYLOAD);

      const file = await fetchDownload(input('http://127.0.0.1:9/unreachable.tar.gz'), options({ offline: true }));

      expect(await sha256Of(file)).toBe(PAYLOAD_SHA);
    });

    test('a cache miss fails without a request, saying what to do', async () => {
      const server = await serve((_req, res) => sendPayload(res));

      const error = await fetchDownload(input(`${server.url}/containerd.tar.gz`), options({ offline: true })).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(FetchError);
      const { message } = error as FetchError;
      expect(message).toMatch(/offline/);
      expect(message).toContain('containerd');
      expect(message).toContain(PAYLOAD_SHA);
      expect(message).toContain('--mirror');
      expect(server.requests).toEqual([]);
    });
  });

  test('a corrupted cache entry is detected and downloaded again', async () => {
    const server = await serve((_req, res) => sendPayload(res));
    const file = await fetchDownload(input(`${server.url}/containerd.tar.gz`), options());
    await writeFile(file, 'bit rot');

    expect(await fetchDownload(input(`${server.url}/containerd.tar.gz`), options())).toBe(file);

    expect(await sha256Of(file)).toBe(PAYLOAD_SHA);
    expect(server.requests).toHaveLength(2);
  });

  test('an entry changed behind its stat record is caught even with its old mtime put back', async () => {
    const server = await serve((_req, res) => sendPayload(res));
    const file = await fetchDownload(input(`${server.url}/containerd.tar.gz`), options());
    expect(await readFile(path.join(cacheDir, 'verified', PAYLOAD_SHA), 'utf8')).toMatch(new RegExp(`^${PAYLOAD_SHA} dev=\\d+ ino=\\d+ size=${PAYLOAD.length} `));
    const { atime, mtime } = await stat(file);
    const damaged = Buffer.from(PAYLOAD);
    damaged[7] = (damaged[7] ?? 0) ^ 0xff;
    await writeFile(file, damaged);
    await utimes(file, atime, mtime);

    expect(await fetchDownload(input(`${server.url}/containerd.tar.gz`), options())).toBe(file);
    expect(await sha256Of(file)).toBe(PAYLOAD_SHA);
    expect(server.requests).toHaveLength(2);
    expect(await filesUnder(cacheDir)).toEqual(ENTRY_AND_RECORD);
  });

  describe('concurrency', () => {
    /** Sends the payload in slices with pauses, so that concurrent downloads overlap. */
    function sendSlowly(res: ServerResponse): void {
      res.writeHead(200, { 'content-length': PAYLOAD.length });
      const slice = Math.ceil(PAYLOAD.length / 5);
      let offset = 0;
      const next = () => {
        const chunk = PAYLOAD.subarray(offset, (offset += slice));
        if (offset >= PAYLOAD.length) res.end(chunk);
        else res.write(chunk, () => setTimeout(next, 20));
      };
      next();
    }

    test('parallel fetches of one file into one cache all succeed', async () => {
      const server = await serve((_req, res) => sendSlowly(res));

      const results = await Promise.all(Array.from({ length: 4 }, () => fetchDownload(input(`${server.url}/containerd.tar.gz`), options())));

      expect(new Set(results)).toEqual(new Set([path.join(cacheDir, 'sha256', PAYLOAD_SHA)]));
      expect(server.requests).toHaveLength(4);
      expect(await sha256Of(results[0]!)).toBe(PAYLOAD_SHA);
      expect(await filesUnder(cacheDir)).toEqual(ENTRY_AND_RECORD);
    });

    test('two processes sharing one cache both succeed', async () => {
      const server = await serve((_req, res) => sendSlowly(res));
      const child = await compileForChildProcess();

      const outputs = await Promise.all(
        [1, 2].map(() => promisify(execFile)(process.execPath, [child, `${server.url}/containerd.tar.gz`, PAYLOAD_SHA, cacheDir])),
      );

      for (const { stdout } of outputs) expect(JSON.parse(stdout)).toEqual(Array(2).fill(path.join(cacheDir, 'sha256', PAYLOAD_SHA)));
      expect(server.requests).toHaveLength(4);
      expect(await sha256Of(path.join(cacheDir, 'sha256', PAYLOAD_SHA))).toBe(PAYLOAD_SHA);
      expect(await filesUnder(cacheDir)).toEqual(ENTRY_AND_RECORD);
    });

    /**
     * Node 20 cannot run TypeScript, so the fetch modules are transpiled into the temp dir,
     * next to a script that runs two fetches at once and prints their results.
     */
    async function compileForChildProcess(): Promise<string> {
      const dir = path.join(tmp, 'child');
      await mkdir(dir);
      await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
      const here = path.dirname(fileURLToPath(import.meta.url));
      const sources = (await readdir(here)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
      // The modules outside fetch/ that fetch/ imports, at the same relative place.
      for (const source of [...sources, '../scratch.ts', '../atomic.ts']) {
        const { outputText } = ts.transpileModule(await readFile(path.join(here, source), 'utf8'), {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
        });
        await writeFile(path.join(dir, source.replace(/\.ts$/, '.js')), outputText);
      }
      const script = path.join(dir, 'child.js');
      await writeFile(
        script,
        `import { fetchDownload } from './fetch-download.js';
const [url, sha256, cacheDir] = process.argv.slice(2);
const fetchOne = () => fetchDownload({ name: 'containerd', url, sha256 }, { cacheDir, retryDelayMs: 1 });
process.stdout.write(JSON.stringify(await Promise.all([fetchOne(), fetchOne()])));
`,
      );
      return script;
    }
  });
});

describe('fetchUnpinned', () => {
  test('stores a file of unknown hash under its sha256, retrying a truncated body, so a later pinned fetch needs no request', async () => {
    const server = await serve((_req, res, n) => (n === 0 ? sendTruncated(res) : sendPayload(res)));
    const url = `${server.url}/docker-28.0.1.tgz`;

    const result = await fetchUnpinned({ name: 'docker', url }, options());

    expect(result).toEqual({ sha256: PAYLOAD_SHA, path: path.join(cacheDir, 'sha256', PAYLOAD_SHA) });
    expect(await sha256Of(result.path)).toBe(PAYLOAD_SHA);
    expect(await filesUnder(cacheDir)).toEqual(ENTRY_AND_RECORD);
    expect(await fetchDownload({ name: 'docker', url, sha256: result.sha256 }, options())).toBe(result.path);
    expect(server.requests).toHaveLength(2);
  });

  test('a failed download names the input, status and URL, and leaves nothing behind', async () => {
    const server = await serve((_req, res) => res.writeHead(404).end());
    const url = `${server.url}/docker-28.0.1.tgz`;

    const error = await fetchUnpinned({ name: 'docker', url }, options()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FetchError);
    expect(error).toMatchObject({ input: 'docker', url });
    expect((error as FetchError).message).toContain('404');
    expect(await filesUnder(cacheDir)).toEqual([]);
  });
});

describe('createProgress', () => {
  test('off a TTY, prints one line per finished download', async () => {
    const server = await serve((_req, res) => sendPayload(res));
    const stream = new PassThrough();
    const progress = createProgress({ stream: stream as unknown as NodeJS.WriteStream });

    await fetchDownload(input(`${server.url}/containerd.tar.gz`), options({ progress }));
    await fetchDownload(input(`${server.url}/containerd.tar.gz`), options({ progress }));
    progress.stop();

    expect(String(stream.read())).toBe('fetched containerd (89.8 KiB)\n');
  });

  test('quiet prints nothing', () => {
    const stream = new PassThrough();
    const progress = createProgress({ stream: stream as unknown as NodeJS.WriteStream, quiet: true });
    const download = progress.start('containerd', 10);
    download.tick(10);
    download.done();
    progress.note('retrying');
    progress.stop();
    expect(stream.read()).toBeNull();
  });
});

describe('defaultCacheDir', () => {
  test('prefers $BAKEHOUSE_CACHE_DIR, then $XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultCacheDir({ BAKEHOUSE_CACHE_DIR: '/srv/cache', XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })).toBe('/srv/cache');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })).toBe('/xdg/bakehouse');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })).toBe('/home/u/.cache/bakehouse');
    expect(defaultCacheDir({ HOME: '/home/u' })).toBe('/home/u/.cache/bakehouse');
  });
});
