import { createHash } from 'node:crypto';
import { cp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUpstreamApi } from '@bakehouse/fixtures';
import { parseTestRecord } from '@bakehouse/schema';
import { runRelease, type ReleaseOptions, type ReleaseReport } from './pipeline.js';
import { parsePolicy } from './policy.js';
import { readTreeIndex, workspaceSteps } from './steps.js';
import { startReleaseWorld, type ReleaseWorld } from './test-support/release-world.js';

/**
 * release.yml's three jobs, run in a row against the loopback fake upstream: bump once; build
 * and boot-test from those locks into a stage; publish the stage. A newer containerd appears
 * upstream between the boot test and the publish: what is published is what was booted.
 * containerd's fake binaries cannot run, so in this checkout its manifest starts no unit and its
 * smoke checks only look at the files: the boot itself is real (systemd-nspawn, systemd 257).
 */
const POLICY = `
flatcar: { board: amd64-usr, channels: [stable] }
publish: { out: out, baseUrl: 'https://sysext.example.org' }
defaults: { arch: [x86-64] }
extensions:
  containerd: {}
`;

let checkout: string;
let work: string;
let fake: FakeUpstreamApi;
let world: ReleaseWorld;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  world = await startReleaseWorld(POLICY);
  ({ work, checkout, fake, env } = world);
  const manifest = path.join(checkout, 'extensions/containerd/extension.ts');
  const text = await readFile(manifest, 'utf8');
  await writeFile(manifest, replaceSection(text.replace("enable: ['containerd.service'],", 'enable: [],'), 'smoke: ', "{ commands: ['test -x /usr/bin/ctr', 'test -x /usr/bin/runc'] }"));
}, 120_000);

afterAll(async () => {
  await world?.close();
});

/** `text` with the object literal after `key` (braces balanced) replaced by `value`. */
function replaceSection(text: string, key: string, value: string): string {
  const start = text.indexOf(`${key}{`) + key.length;
  expect(start).toBeGreaterThanOrEqual(key.length);
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    depth += text[i] === '{' ? 1 : text[i] === '}' ? -1 : 0;
    if (depth === 0) return text.slice(0, start) + value + text.slice(i + 1);
  }
  throw new Error(`unbalanced braces after ${key}`);
}

async function release(options: Partial<ReleaseOptions>): Promise<ReleaseReport> {
  const policy = parsePolicy(POLICY, 'release.yaml');
  // The boot test shares the testbed root `bakehouse test` keeps in the default cache, not the test's private download cache.
  const { BAKEHOUSE_CACHE_DIR: _private, ...bootEnv } = env;
  return runRelease(
    { root: checkout, policy, readIndex: readTreeIndex, log: () => {}, ...options },
    { ...workspaceSteps(checkout, env, { turboArgs: ['--only'] }), bootTest: workspaceSteps(checkout, { ...bootEnv, ...(process.env.BAKEHOUSE_CACHE_DIR ? { BAKEHOUSE_CACHE_DIR: process.env.BAKEHOUSE_CACHE_DIR } : {}) }).bootTest },
  );
}

const summary = (report: ReleaseReport) => report.outcomes.map((o) => [o.extension, o.status, o.step ?? '', o.images.join(' ')]);
const sha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
const tree = () => path.join(checkout, 'out/stable');
const bakehouse = (...args: string[]) => execa(process.execPath, [path.join(checkout, 'packages/cli/bin/bakehouse.js'), ...args], { cwd: checkout, env, reject: false, all: true });
const IMAGE = 'containerd-2.3.5-x86-64.raw';

async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      files.set(path.relative(dir, file), `${await sha(file)} ${(await stat(file)).mtimeMs}`);
    }
  return files;
}

describe('what was tested is what is published', () => {
  let stage: string;

  it('publishes the booted bytes with their test record, though upstream moved on after the boot test', async () => {
    const bumped = await release({ bumpOnly: true });
    expect(summary(bumped)).toEqual([['containerd', 'bumped', '', '']]);

    stage = path.join(work, 'stage');
    const tested = await release({ bump: false, flatcar: bumped.flatcar, publish: false, stageDir: stage, bootTests: true });
    expect(summary(tested), tested.outcomes[0]?.detail).toEqual([['containerd', 'tested', '', IMAGE]]);
    const staged = path.join(stage, 'stable/containerd');
    expect((await readdir(staged)).sort()).toEqual(['containerd-2.3.5-x86-64.json', IMAGE, 'containerd-2.3.5-x86-64.spdx.json', 'containerd-2.3.5-x86-64.test.json']);
    const record = parseTestRecord(await readFile(path.join(staged, 'containerd-2.3.5-x86-64.test.json'), 'utf8'), 'test.json');
    expect(record).toMatchObject({ extension: 'containerd', version: '2.3.5', arch: 'x86-64', ok: true, testbed: 'nspawn', kernel: os.release(), flatcarVersion: '4230.2.1' });
    expect(record.image.sha256).toBe(await sha(path.join(staged, IMAGE)));
    expect(record.checks.map((c) => [c.name, c.ok])).toEqual([
      ['test -x /usr/bin/ctr', true],
      ['test -x /usr/bin/runc', true],
    ]);

    // Between the boot test and the publish, upstream releases 2.3.6.
    await fake.releaseContainerd('2.3.6');
    const versions = await bakehouse('versions', 'containerd', '--json');
    expect(versions.exitCode, versions.all).toBe(0);
    expect(versions.stdout).toContain('2.3.6');

    const published = await release({ fromStage: stage });
    expect(summary(published)).toEqual([['containerd', 'published', '', IMAGE]]);
    const index = (await readTreeIndex(tree()))!;
    expect(index.extensions.containerd!.images.map((i) => [i.path, i.sha256, i.test?.path, i.sbom?.path])).toEqual([
      [`containerd/${IMAGE}`, record.image.sha256, 'containerd/containerd-2.3.5-x86-64.test.json', 'containerd/containerd-2.3.5-x86-64.spdx.json'],
    ]);
    // The SBOM published is the one staged with the tested bytes.
    expect(await readFile(path.join(tree(), 'containerd/containerd-2.3.5-x86-64.spdx.json'))).toEqual(await readFile(path.join(staged, 'containerd-2.3.5-x86-64.spdx.json')));
    expect(await sha(path.join(tree(), 'containerd', IMAGE))).toBe(record.image.sha256);
    expect(await readFile(path.join(tree(), 'containerd/containerd-2.3.5-x86-64.test.json'))).toEqual(await readFile(path.join(staged, 'containerd-2.3.5-x86-64.test.json')));
    const verified = await bakehouse('verify-release', tree(), '--require-tests');
    expect(verified.exitCode, verified.all).toBe(0);
    expect(verified.stdout).not.toContain('untested');
  }, 600_000);

  it('refuses staged images without a passing test record, and images of a lock bumped after the test, leaving the tree as it was', async () => {
    const before = await snapshot(tree());
    const variant = async (name: string, change: (dir: string) => Promise<void>) => {
      const dir = path.join(work, name);
      await cp(stage, dir, { recursive: true });
      await change(path.join(dir, 'stable/containerd'));
      return dir;
    };
    const testRecord = (dir: string) => path.join(dir, 'containerd-2.3.5-x86-64.test.json');

    const untested = await release({ fromStage: await variant('untested', (dir) => rm(testRecord(dir))) });
    expect(summary(untested)).toEqual([['containerd', 'failed', 'publish', '']]);
    expect(untested.outcomes[0]!.detail).toMatch(/containerd-2\.3\.5-x86-64\.raw: has no boot test record/);

    const failing = await release({
      fromStage: await variant('failing', async (dir) => {
        const record = JSON.parse(await readFile(testRecord(dir), 'utf8'));
        await writeFile(testRecord(dir), JSON.stringify({ ...record, ok: false, problem: 'timed out' }));
      }),
    });
    expect(failing.outcomes[0]!.detail).toMatch(/containerd-2\.3\.5-x86-64\.test\.json says its boot test failed \(timed out\)/);

    // A release job that bumped again (to 2.3.6) would hold a lock the tested image was not built from.
    const bump = await bakehouse('bump', 'containerd', '--quiet');
    expect(bump.exitCode, bump.all).toBe(0);
    const stale = await release({ fromStage: stage });
    expect(summary(stale)).toEqual([['containerd', 'failed', 'publish', '']]);
    expect(stale.outcomes[0]!.detail).toMatch(/built as version 2\.3\.5, which extensions\/containerd\/extension\.lock\.json no longer holds \(it locks 2\.3\.6\)/);

    expect(await snapshot(tree())).toEqual(before);
  }, 300_000);
});
