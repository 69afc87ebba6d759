import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { containerdUpstream, freshCheckout, REPO_ROOT, serveDirectory, type LoopbackServer } from '@bakehouse/fixtures';

const SERVER = path.join(REPO_ROOT, 'tools/release/node_modules/turborepo-remote-cache/dist/cli.js');
const TOKEN = 'test-token';

let work: string;
let site: LoopbackServer;
let cacheServer: ResultPromise | undefined;
let cacheUrl: string;
let shimLog: string;
let shimDir: string;
let sourcesFile: string;
const checkouts: string[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** turborepo-remote-cache as an operator runs it (see CONTRIBUTING.md): local storage, one token, loopback only. */
async function startCacheServer(storage: string): Promise<void> {
  const port = await freePort();
  cacheUrl = `http://127.0.0.1:${port}`;
  cacheServer = execa(process.execPath, [SERVER], {
    env: { HOST: '127.0.0.1', PORT: String(port), STORAGE_PROVIDER: 'local', STORAGE_PATH: storage, STORAGE_PATH_USE_TMP_FOLDER: 'false', TURBO_TOKEN: TOKEN, LOG_LEVEL: 'info' },
    extendEnv: false,
    all: true,
    buffer: false,
  });
  await new Promise<void>((resolve, reject) => {
    cacheServer!.all!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Server listening')) resolve();
    });
    cacheServer!.catch(reject);
  });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-remote-cache-'));
  await startCacheServer(path.join(work, 'storage'));
  site = await serveDirectory(path.join(work, 'site'));
  // Turbo hashes BAKEHOUSE_SOURCES' value, so both checkouts name the same file.
  sourcesFile = path.join(work, 'sources.json');
  await writeFile(sourcesFile, JSON.stringify(await containerdUpstream(path.join(work, 'site'), site.url)));
  // Every mksquashfs run, in either checkout, is recorded before the real one runs.
  shimDir = path.join(work, 'shim');
  shimLog = path.join(work, 'mksquashfs.log');
  await mkdir(shimDir);
  const realMksquashfs = (await execa('sh', ['-c', 'command -v mksquashfs'])).stdout.trim();
  await writeFile(path.join(shimDir, 'mksquashfs'), `#!/bin/sh\necho "$PWD $*" >> ${shimLog}\nexec ${realMksquashfs} "$@"\n`);
  await chmod(path.join(shimDir, 'mksquashfs'), 0o755);
}, 60_000);

afterAll(async () => {
  cacheServer?.kill();
  await cacheServer?.catch(() => undefined);
  await site?.close();
  await Promise.all([work, ...checkouts].map((dir) => dir && rm(dir, { recursive: true, force: true })));
});

/** containerd's build task only (its workspace dependencies come prebuilt with the checkout), through the remote cache. */
async function turboBuild(checkout: string) {
  return execa('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=containerd', '--only', '--summarize', '--output-logs=new-only'], {
    cwd: checkout,
    env: {
      PATH: `${shimDir}:${process.env.PATH}`,
      TURBO_API: cacheUrl,
      TURBO_TOKEN: TOKEN,
      TURBO_TEAM: 'bakehouse',
      TURBO_TELEMETRY_DISABLED: '1',
      BAKEHOUSE_SOURCES: sourcesFile,
      BAKEHOUSE_ARCH: 'x86-64',
      BAKEHOUSE_CACHE_DIR: path.join(checkout, '.download-cache'),
      CI: '1',
    },
    reject: false,
    all: true,
  });
}

/** Each task's cache status and where the hit came from, from Turbo's own run summary. */
async function cacheSources(checkout: string): Promise<Record<string, { status: string; source?: string }>> {
  const runs = path.join(checkout, '.turbo/runs');
  const [file] = await readdir(runs);
  const summary = JSON.parse(await readFile(path.join(runs, file!), 'utf8')) as { tasks: { taskId: string; cache: { status: string; source?: string } }[] };
  return Object.fromEntries(summary.tasks.map((t) => [t.taskId, { status: t.cache.status, ...(t.cache.source ? { source: t.cache.source } : {}) }]));
}

const log = () => readFile(shimLog, 'utf8').catch(() => '');
const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

it('a cold build in one checkout fills the shared cache; a fresh checkout gets FULL TURBO and never runs mksquashfs', async () => {
  const a = await freshCheckout(REPO_ROOT);
  checkouts.push(a);
  const cold = await turboBuild(a);
  expect(cold.exitCode, cold.all).toBe(0);
  expect(cold.all).toContain('cache miss, executing');
  expect(cold.all).toMatch(/Remote caching enabled/);
  expect(await cacheSources(a)).toEqual({ 'containerd#build': { status: 'MISS' } });
  expect(await log()).toContain(a); // the shim saw the real build
  expect((await readdir(path.join(work, 'storage'), { recursive: true })).some((f) => f.endsWith('.tar.zst') || /[0-9a-f]{16}/.test(f))).toBe(true);

  const before = await log();
  // Cloned from A: the repository's work tree may change meanwhile, and the point is two clones of one commit.
  const b = await freshCheckout(a);
  checkouts.push(b);
  const warm = await turboBuild(b);
  expect(warm.exitCode, warm.all).toBe(0);
  expect(warm.all).toContain('FULL TURBO');
  expect(await cacheSources(b)).toEqual({ 'containerd#build': { status: 'HIT', source: 'REMOTE' } });
  expect(await log()).toBe(before);
  const image = 'extensions/containerd/dist/containerd-2.3.4-x86-64.raw';
  expect(await sha256(path.join(b, image))).toBe(await sha256(path.join(a, image)));
}, 90_000);
