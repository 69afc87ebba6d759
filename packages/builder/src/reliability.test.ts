/**
 * The real `bakehouse build` (a child process) against a loopback server, killed, raced and
 * starved of disk: whatever happens, dist/ and the download cache hold only complete, verified
 * files, and the next build succeeds.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBakehouse, startServer, type LoopbackServer } from '@bakehouse/fixtures';
import { sha256File } from './hash.js';

const PATTERN = randomBytes(64 * 1024);
const NAME = 'sturdy';
const IMAGE = `${NAME}-1.0.0-x86-64`;
/** 8 MiB repeating a random 64 KiB: mksquashfs works long enough to be caught at it, but not for long. */
const PAYLOAD = Buffer.concat(Array.from({ length: 128 }, () => PATTERN));
const PAYLOAD_SHA = createHash('sha256').update(PAYLOAD).digest('hex');
const CHUNK = 1024 ** 2;

let work: string;
let server: LoopbackServer;
/** What the server does for each path; tests swap behaviours in. */
const behaviour = new Map<string, (res: ServerResponse) => Promise<void>>();

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'reliability-'));
  server = await startServer(async (req, res) => {
    const serve = behaviour.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!serve) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-length', PAYLOAD.length);
    await serve(res);
  });
});

afterAll(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const serveAll = async (res: ServerResponse) => {
  res.end(PAYLOAD);
};

interface Workspace {
  root: string;
  dist: string;
  cache: string;
}

/** A workspace with one extension whose single input is the payload at `urlPath`. */
async function workspace(label: string, urlPath: string, cache = path.join(work, label, 'cache')): Promise<Workspace> {
  const root = path.join(work, label, 'ws');
  const ext = path.join(root, 'extensions', NAME);
  await mkdir(ext, { recursive: true });
  await writeFile(path.join(root, 'pnpm-workspace.yaml'), 'packages:\n  - extensions/*\n');
  await writeFile(path.join(ext, 'package.json'), JSON.stringify({ name: NAME, version: '1.0.0', private: true, type: 'module' }));
  const manifest = {
    name: NAME,
    description: 'survives crashes',
    homepage: 'https://example.org',
    arch: ['x86-64'],
    inputs: [{ name: 'payload', kind: 'file', url: `${server.url}${urlPath}`, extract: [{ to: '/usr/lib/sturdy/payload', mode: 0o644 }] }],
  };
  await writeFile(path.join(ext, 'extension.ts'), `export default ${JSON.stringify(manifest, null, 2)};\n`);
  const lock = { lockVersion: 1, images: [{ version: '1.0.0', inputs: { payload: { version: '1.0.0', sha256: { 'x86-64': PAYLOAD_SHA }, checksum: 'computed' } } }] };
  await writeFile(path.join(ext, 'extension.lock.json'), JSON.stringify(lock, null, 2));
  return { root, dist: path.join(ext, 'dist'), cache };
}

function build(ws: Workspace, extra: Record<string, string> = {}) {
  return runBakehouse(['build', NAME, '--quiet'], { cwd: ws.root, env: { BAKEHOUSE_CACHE_DIR: ws.cache, ...extra } });
}

async function list(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** dist/ after a finished build: exactly the image, its record, its SBOM and SHA256SUMS, all agreeing. */
async function expectCompleteDist(ws: Workspace): Promise<string> {
  expect(await list(ws.dist)).toEqual(['SHA256SUMS', `${IMAGE}.json`, `${IMAGE}.raw`, `${IMAGE}.spdx.json`]);
  const sha256 = await sha256File(path.join(ws.dist, `${IMAGE}.raw`));
  expect(await readFile(path.join(ws.dist, 'SHA256SUMS'), 'utf8')).toBe(`${sha256}  ${IMAGE}.raw\n`);
  const record = JSON.parse(await readFile(path.join(ws.dist, `${IMAGE}.json`), 'utf8')) as { image: { sha256: string } };
  expect(record.image.sha256).toBe(sha256);
  return sha256;
}

/** The cache after a finished build: the one verified entry, no temp files. */
async function expectCleanCache(ws: Workspace): Promise<void> {
  const entries = path.join(ws.cache, 'sha256');
  expect(await list(entries)).toEqual([PAYLOAD_SHA]);
  expect(await sha256File(path.join(entries, PAYLOAD_SHA))).toBe(PAYLOAD_SHA);
}

/** Files a reader could take for output: anything not hidden. */
async function visible(dir: string): Promise<string[]> {
  return (await list(dir)).filter((name) => !name.startsWith('.'));
}

describe('SIGKILL', () => {
  it('during a download leaves no entry in the cache and nothing in dist/; the rerun succeeds', async () => {
    let stalled: (() => void) | undefined;
    let requests = 0;
    behaviour.set('/stall/payload', async (res) => {
      if (++requests > 1) return serveAll(res);
      res.write(PAYLOAD.subarray(0, 2 * CHUNK));
      await new Promise<void>((resolve) => {
        stalled = resolve;
        res.on('close', resolve);
      });
      res.end();
    });
    const ws = await workspace('kill-download', '/stall/payload');
    const child = build(ws);
    const temp = await waitFor('the download to reach the cache', async () => {
      for (const name of await list(path.join(ws.cache, 'sha256'))) {
        const file = path.join(ws.cache, 'sha256', name);
        if ((await stat(file)).size >= 2 * CHUNK) return file;
      }
      return undefined;
    });
    child.kill('SIGKILL');
    expect((await child).signal).toBe('SIGKILL');
    stalled?.();

    // The half-written download keeps its temp name; nothing is filed under the hash.
    expect(await list(path.join(ws.cache, 'sha256'))).toEqual([path.basename(temp)]);
    expect(path.basename(temp)).toMatch(/^\.tmp-/);
    expect(await visible(ws.dist)).toEqual([]);

    const rerun = await build(ws);
    expect(rerun.exitCode, rerun.all).toBe(0);
    await expectCompleteDist(ws);
    await expectCleanCache(ws); // the dead build's temp file was swept
  });

  it('during mksquashfs stops mksquashfs too, leaves no image in dist/, and the rerun succeeds', async () => {
    behaviour.set('/payload', serveAll);
    const ws = await workspace('kill-mksquashfs', '/payload');
    const child = build(ws);
    const partial = await waitFor('mksquashfs to start writing', async () => (await list(ws.dist)).find((name) => name.endsWith('.partial')));
    const { stdout } = await execa('pgrep', ['-P', String(child.pid), '-x', 'mksquashfs'], { reject: false });
    const mksquashfs = Number(stdout.trim().split('\n')[0]);
    expect(mksquashfs, 'mksquashfs runs as a child of the build').toBeGreaterThan(0);
    child.kill('SIGKILL');
    await child;

    // The parent-death signal ends mksquashfs: no orphan keeps writing.
    await waitFor('mksquashfs to exit', async () => (isRunning(mksquashfs) ? undefined : true), 5000);
    expect(partial).toMatch(new RegExp(`^\\.${IMAGE}\\.raw\\.owner-\\d+-${child.pid}-`));
    expect(await visible(ws.dist)).toEqual([]);

    const rerun = await build(ws);
    expect(rerun.exitCode, rerun.all).toBe(0);
    await expectCompleteDist(ws); // the partial image was swept
    await expectCleanCache(ws);
  });
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; it is not running.
    return !/^\S+ \(.*\) Z/.test(readProcStat(pid));
  } catch {
    return false;
  }
}

function readProcStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}

describe('concurrency', () => {
  it('two builds downloading into one cache at once both succeed with identical images and an intact cache', async () => {
    const waiting: ServerResponse[] = [];
    let release: () => void = () => undefined;
    const bothArrived = new Promise<void>((resolve) => (release = resolve));
    // Holds the first request until the second arrives, so both really download at the same time.
    behaviour.set('/race/payload', async (res) => {
      waiting.push(res);
      if (waiting.length === 2) release();
      await Promise.race([bothArrived, sleep(20_000)]);
      for (let at = 0; at < PAYLOAD.length; at += CHUNK) {
        res.write(PAYLOAD.subarray(at, at + CHUNK));
        await sleep(5);
      }
      res.end();
    });
    const cache = path.join(work, 'race-cache');
    const [a, b] = await Promise.all([workspace('race-a', '/race/payload', cache), workspace('race-b', '/race/payload', cache)]);
    const [resultA, resultB] = await Promise.all([build(a), build(b)]);
    expect(resultA.exitCode, resultA.all).toBe(0);
    expect(resultB.exitCode, resultB.all).toBe(0);
    expect(waiting).toHaveLength(2);
    expect(await expectCompleteDist(a)).toBe(await expectCompleteDist(b));
    await expectCleanCache(a);
  });
});

describe('a damaged cache entry', () => {
  it('is detected by its hash, fetched again, and the image is the same', async () => {
    let requests = 0;
    behaviour.set('/count/payload', async (res) => {
      requests++;
      await serveAll(res);
    });
    const ws = await workspace('damaged', '/count/payload');
    expect((await build(ws)).exitCode).toBe(0);
    const before = await expectCompleteDist(ws);
    expect(requests).toBe(1);

    const entry = path.join(ws.cache, 'sha256', PAYLOAD_SHA);
    const damaged = Buffer.from(PAYLOAD);
    damaged[12_345] = (damaged[12_345] ?? 0) ^ 0xff;
    await writeFile(entry, damaged);

    const rerun = await build(ws);
    expect(rerun.exitCode, rerun.all).toBe(0);
    expect(requests).toBe(2);
    await expectCleanCache(ws);
    expect(await expectCompleteDist(ws)).toBe(before);
  });
});

describe.skipIf(process.getuid?.() !== 0)('a full disk (tmpfs, as root)', () => {
  async function withTmpfs<T>(dir: string, size: string, run: () => Promise<T>): Promise<T> {
    await mkdir(dir, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
    try {
      return await run();
    } finally {
      await execa('umount', [dir]);
    }
  }

  it('as the download cache: a clear error naming the cache, and no partial entry', async () => {
    behaviour.set('/payload', serveAll);
    const ws = await workspace('full-cache', '/payload');
    await withTmpfs(ws.cache, '1m', async () => {
      const result = await build(ws);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`cannot store ${server.url}/payload in the download cache: ${ws.cache} has no space left`);
      expect(result.stderr).not.toContain('    at '); // a message, not a stack trace
      expect(await list(path.join(ws.cache, 'sha256'))).toEqual([]);
      expect(await visible(ws.dist)).toEqual([]);
    });
  });

  it('as dist/: a clear error naming the directory, and nothing half-written', async () => {
    behaviour.set('/payload', serveAll);
    const ws = await workspace('full-dist', '/payload');
    await withTmpfs(ws.dist, '128k', async () => {
      const result = await build(ws);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`the file system holding ${ws.dist} is full`);
      expect(result.stderr).not.toContain('    at ');
      expect(await list(ws.dist)).toEqual([]);
    });
    // With room again, the same workspace and its cache build.
    const rerun = await build(ws);
    expect(rerun.exitCode, rerun.all).toBe(0);
    await expectCompleteDist(ws);
  });
});
