import { access, mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serveDirectory, startFakeUpstreamApi, type FakeUpstreamApi, type LoopbackServer } from '@bakehouse/fixtures';
import { LOCK_FILE, parseExtension, type ExtensionLock, type ExtensionManifest } from '@bakehouse/schema';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bump, type BumpOptions } from './bump.js';
import type { UpstreamContext } from './context.js';
import { UpstreamError } from './errors.js';
import { writeBump } from './write-bump.js';

let fake: FakeUpstreamApi;
let ctx: UpstreamContext;
let tmp: string;

beforeAll(async () => {
  fake = await startFakeUpstreamApi();
  ctx = { bases: fake.bases, http: { retries: 0 } };
  tmp = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-bump-lines-'));
});
afterAll(async () => {
  await fake.close();
  await rm(tmp, { recursive: true, force: true });
});

const day = (iso: string) => new Date(`${iso}T12:00:00Z`);
const options = (now: string, extra: Partial<BumpOptions> = {}): BumpOptions => ({ ctx, now: day(now), fetch: { cacheDir: path.join(tmp, 'cache'), retryDelayMs: 1 }, ...extra });

const KUBELET_URL = 'https://dl.k8s.io/release/v{version}/bin/linux/{goarch}/kubelet';
const kube: ExtensionManifest = parseExtension(
  {
    name: 'kube',
    description: 'kube for tests',
    homepage: 'https://example.org',
    upstream: { type: 'kubernetes-stable' },
    lineSource: { type: 'kubernetes-schedule' },
    inputs: [{ name: 'kubelet', kind: 'file', url: KUBELET_URL, checksum: { from: 'file', url: '{url}.sha256' }, extract: [{ to: '/usr/bin/kubelet', mode: 0o755 }] }],
  },
  'kube/extension.ts',
);

async function workspace() {
  const root = await mkdtemp(path.join(tmp, 'ws-'));
  return { root, lockFile: path.join(root, LOCK_FILE), changesetDir: path.join(root, '.changeset') };
}

const changesets = async (dir: string) => Object.fromEntries(await Promise.all((await readdir(dir)).sort().map(async (f) => [f, await readFile(path.join(dir, f), 'utf8')])));

describe("lines from upstream's release schedule (the fake's: 1.34 out on 2026-08-26, 1.32's end of life 2026-10-27)", () => {
  let before: ExtensionLock;
  let withNewLine: ExtensionLock;

  test('a first bump locks every released line that is not past its end of life, newest first, each with its end-of-life date', async () => {
    const result = await bump({ manifest: kube }, options('2026-06-01'));
    before = result.lock;

    expect(result.lock.images.map((i) => [i.line, i.version, i.endOfLife])).toEqual([
      ['1.33', '1.33.6', '2027-06-28'],
      ['1.32', '1.32.10', '2026-10-27'],
    ]);
    expect(result.lock.retiredLines).toBeUndefined();
  });

  test('a line that appears in the schedule is added, with a changeset of its own; on its end-of-life day a line stays', async () => {
    const ws = await workspace();
    const result = await bump({ manifest: kube, lock: before }, options('2026-10-27'));
    withNewLine = result.lock;

    expect(result.lock.images.map((i) => i.line)).toEqual(['1.34', '1.33', '1.32']);
    expect(result.lock.images.slice(1)).toEqual(before.images);
    expect(result.changes).toEqual([
      { line: '1.34', name: 'kube', to: '1.34.2' },
      { line: '1.34', name: 'kubelet', to: '1.34.2' },
    ]);
    await writeBump(result, ws);
    expect(await changesets(ws.changesetDir)).toEqual({
      'line-kube-1.34.md': '---\n"kube": minor\n---\n\nNew line 1.34 (kube 1.34.2), following Kubernetes\' release schedule; supported until 2027-10-28.\n',
    });
  });

  test('nothing changes before a line\'s end of life', async () => {
    const result = await bump({ manifest: kube, lock: withNewLine }, options('2026-10-27'));
    expect(result).toMatchObject({ upToDate: true, changes: [] });
  });

  test('after its end of life a line is dropped and retired with its date, with a changeset saying so', async () => {
    const ws = await workspace();
    const result = await bump({ manifest: kube, lock: withNewLine }, options('2026-12-01'));

    expect(result.lock.images.map((i) => i.line)).toEqual(['1.34', '1.33']);
    expect(result.lock.retiredLines).toEqual([{ line: '1.32', endOfLife: '2026-10-27' }]);
    expect(result.changes).toEqual([
      { line: '1.32', name: 'kube', from: '1.32.10' },
      { line: '1.32', name: 'kubelet', from: '1.32.10' },
    ]);
    await writeBump(result, ws);
    expect(await changesets(ws.changesetDir)).toEqual({
      'line-kube-1.32-end-of-life.md':
        '---\n"kube": minor\n---\n\nLine 1.32 reached the end of its upstream support on 2026-10-27 and is no longer built. Its last image (kube 1.32.10) stays listed in the catalog, marked end-of-life: move hosts on it to a supported line.\n',
    });
    expect(JSON.parse(await readFile(ws.lockFile, 'utf8'))).toEqual(result.lock);

    // The retired line stays retired; bumping again changes nothing.
    expect(await bump({ manifest: kube, lock: result.lock }, options('2026-12-02'))).toMatchObject({ upToDate: true });
  });

  test('a locked line that left the schedule takes its end-of-life date from the lock, else from eol.yaml', async () => {
    const old = { ...withNewLine, images: [...withNewLine.images, { ...withNewLine.images[2]!, line: '1.31', version: '1.31.14' }] };
    const recorded = await bump({ manifest: kube, lock: { ...old, images: old.images.map((i) => (i.line === '1.31' ? { ...i, endOfLife: '2025-11-10' } : i)) } }, options('2026-12-01'));
    expect(recorded.lock.retiredLines).toEqual([{ line: '1.32', endOfLife: '2026-10-27' }, { line: '1.31', endOfLife: '2025-11-10' }]);
    const fromEolYaml = await bump({ manifest: kube, lock: { ...old, images: old.images.map(({ endOfLife: _, ...i }) => i) } }, options('2026-12-01'));
    expect(fromEolYaml.lock.retiredLines).toContainEqual({ line: '1.31', endOfLife: '2025-11-11' });
  });
});

describe('a schedule that cannot be had', () => {
  let site: LoopbackServer;
  let siteDir: string;
  const scheduleFile = () => path.join(siteDir, 'kubernetes/website/main/data/releases/schedule.yaml');
  beforeAll(async () => {
    siteDir = await mkdtemp(path.join(tmp, 'raw-'));
    await mkdir(path.dirname(scheduleFile()), { recursive: true });
    site = await serveDirectory(siteDir);
  });
  afterAll(() => site.close());

  async function attempt() {
    const ws = await workspace();
    const lock = JSON.parse(JSON.stringify((await bump({ manifest: kube }, options('2026-06-01'))).lock)) as ExtensionLock;
    await writeFile(ws.lockFile, `${JSON.stringify(lock, null, 2)}\n`);
    const error = await bump({ manifest: kube, lock }, options('2026-12-01', { ctx: { ...ctx, bases: { ...ctx.bases, githubRaw: site.url } } })).catch((e: unknown) => e);
    // Nothing was written: the lock is as it was and no changeset exists.
    expect(JSON.parse(await readFile(ws.lockFile, 'utf8'))).toEqual(lock);
    await expect(access(ws.changesetDir)).rejects.toThrow(/ENOENT/);
    return error as Error;
  }

  test('missing: the error names the URL and the HTTP status', async () => {
    await rm(scheduleFile(), { force: true });
    const error = await attempt();
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.message).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/kubernetes\/website\/main\/data\/releases\/schedule\.yaml: HTTP 404/);
  });

  test.each([
    ['not YAML', 'schedules: [\n  - release: 1.34\n', /schedule\.yaml: not YAML/],
    ['another shape', 'releases:\n  - 1.34\n', /schedule\.yaml: expected Kubernetes' release schedule .*at schedules: /],
    ['a release that is no MAJOR.MINOR', 'schedules:\n  - release: latest\n    endOfLifeDate: 2027-01-01\n', /at schedules\.0\.release: a MAJOR\.MINOR release/],
    ['a date that is no date', 'schedules:\n  - release: 1.34\n    endOfLifeDate: soon\n', /at schedules\.0\.endOfLifeDate: a date as YYYY-MM-DD/],
  ])('%s: the error says what was expected where', async (_, text, message) => {
    await writeFile(scheduleFile(), text);
    const error = await attempt();
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.message).toMatch(message);
  });

  test('"release: 1.30" is the line 1.30, not the number 1.3', async () => {
    await writeFile(scheduleFile(), 'schedules:\n  - release: 1.30\n    releaseDate: 2024-04-17\n    endOfLifeDate: 2027-06-28\n');
    const error = await attempt();
    // The fake dl.k8s.io has no stable-1.30.txt: the bump asked for line 1.30.
    expect(error.message).toMatch(/stable-1\.30\.txt: HTTP 404/);
  });
});
