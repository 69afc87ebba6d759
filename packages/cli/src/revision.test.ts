import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { containerdUpstream, fixtureBuildEnv, runBakehouse, scratchWorkspace, serveDirectory, startFakeUpstreamApi, type FakeUpstreamApi, type LoopbackServer } from '@bakehouse/fixtures';
import { afterAll, beforeAll, expect, it } from 'vitest';

let fake: FakeUpstreamApi;
let site: LoopbackServer;
let work: string;
let root: string;
let buildEnv: Record<string, string>;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'cli-revision-test-'));
  fake = await startFakeUpstreamApi();
  site = await serveDirectory(path.join(work, 'site'));
  buildEnv = await fixtureBuildEnv(work, await containerdUpstream(path.join(work, 'site'), site.url));
  root = await scratchWorkspace(['containerd']);
}, 60_000);
afterAll(async () => {
  await fake?.close();
  await site?.close();
  await Promise.all([work, root].map((dir) => dir && rm(dir, { recursive: true, force: true })));
});

const lockOf = async () => JSON.parse(await readFile(path.join(root, 'extensions/containerd/extension.lock.json'), 'utf8')) as { images: { version: string; revision?: number }[] };
const changesets = async () => (await readdir(path.join(root, '.changeset')).catch(() => [])).sort();

it('a packaging revision needs a reason, and writes nothing without one', async () => {
  const result = await runBakehouse(['bump', 'containerd', '--revision'], { cwd: root });
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain('a packaging revision needs a reason (--message');
  expect((await lockOf()).images[0]).not.toHaveProperty('revision');
  expect(await changesets()).toEqual([]);
});

it('--revision keeps the upstream pins, moves the image version to VERSION.r1, writes a patch changeset, and the build is named by it', async () => {
  const before = await lockOf();
  const result = await runBakehouse(['bump', 'containerd', '--revision', '-m', 'containerd.service restarts on failure.'], { cwd: root });
  expect(result.exitCode, result.all).toBe(0);
  expect(result.stdout).toContain('containerd 2.3.4 → 2.3.4.r1');
  expect(await lockOf()).toEqual({ ...before, images: [{ ...before.images[0], revision: 1 }] });
  expect(await changesets()).toEqual(['bump-containerd-2.3.4.r1.md']);
  expect(await readFile(path.join(root, '.changeset/bump-containerd-2.3.4.r1.md'), 'utf8')).toBe(
    '---\n"containerd": patch\n---\n\ncontainerd.service restarts on failure.\n\nPackaging revision: containerd 2.3.4 → 2.3.4.r1.\n',
  );

  const build = await runBakehouse(['build', 'containerd', '--arch', 'x86-64'], { cwd: root, env: buildEnv });
  expect(build.exitCode, build.all).toBe(0);
  const dist = path.join(root, 'extensions/containerd/dist');
  expect((await readdir(dist)).sort()).toEqual(['SHA256SUMS', 'containerd-2.3.4.r1-x86-64.json', 'containerd-2.3.4.r1-x86-64.raw', 'containerd-2.3.4.r1-x86-64.spdx.json']);
  const record = JSON.parse(await readFile(path.join(dist, 'containerd-2.3.4.r1-x86-64.json'), 'utf8')) as { version: string; inputs: { name: string; version: string }[] };
  expect(record.version).toBe('2.3.4.r1');
  expect(record.inputs.find((input) => input.name === 'containerd')?.version).toBe('2.3.4');
}, 120_000);

it('a second revision counts up; an upstream move starts over without one', async () => {
  expect((await runBakehouse(['bump', 'containerd', '--revision', '-m', 'Ship the default config.'], { cwd: root })).exitCode).toBe(0);
  expect((await lockOf()).images[0]).toMatchObject({ version: '2.3.4', revision: 2 });

  const result = await runBakehouse(['bump', 'containerd'], { cwd: root, env: { ...fake.env, BAKEHOUSE_CACHE_DIR: path.join(work, 'cache'), GITHUB_TOKEN: '' } });
  expect(result.exitCode, result.all).toBe(0);
  expect(result.stdout).toContain('containerd 2.3.4.r2 → 2.3.5');
  const image = (await lockOf()).images[0]!;
  expect(image.version).toBe('2.3.5');
  expect(image).not.toHaveProperty('revision');
  expect(await changesets()).toEqual(['bump-containerd-2.3.4.r1.md', 'bump-containerd-2.3.4.r2.md', 'bump-containerd-2.3.5.md']);

  // A bump that finds nothing new keeps a revision made on the new version.
  expect((await runBakehouse(['bump', 'containerd', '--revision', '-m', 'Fix the unit.'], { cwd: root })).exitCode).toBe(0);
  const again = await runBakehouse(['bump', 'containerd'], { cwd: root, env: { ...fake.env, BAKEHOUSE_CACHE_DIR: path.join(work, 'cache'), GITHUB_TOKEN: '' } });
  expect(again.stdout, again.all).toContain('containerd: up to date (2.3.5.r1)');
}, 120_000);
