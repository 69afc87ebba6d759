import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUpstreamApi } from '@bakehouse/fixtures';
import { renderReport, runRelease, type ReleaseReport } from './pipeline.js';
import { parsePolicy } from './policy.js';
import { readTreeIndex, workspaceSteps } from './steps.js';
import { startReleaseWorld, type ReleaseWorld } from './test-support/release-world.js';

/** containerd follows upstream; docker's fake upstream is older than its lock, so its bump fails; kubernetes is pinned and cannot build offline. */
const POLICY = `
flatcar: { board: amd64-usr, channels: [stable] }
publish: { out: out, baseUrl: 'https://sysext.example.org' }
defaults: { arch: [x86-64, arm64] }
extensions:
  containerd: {}
  docker: {}
  kubernetes: { track: pinned }
`;

let checkout: string;
let work: string;
let fake: FakeUpstreamApi;
let world: ReleaseWorld;
let env: NodeJS.ProcessEnv;
const logs: string[] = [];

beforeAll(async () => {
  world = await startReleaseWorld(POLICY, { versionTxt: 'FLATCAR_VERSION=4230.2.1\nFLATCAR_VERSION_ID=4230.2.1\nFLATCAR_BUILD_ID="2025-05-12-0815"\n', env: { BAKEHOUSE_OFFLINE: '1' } });
  ({ work, checkout, fake, env } = world);
}, 120_000);

afterAll(async () => {
  await world?.close();
});

/** A release in the checkout through the real CLI, Turbo and publish; workspace packages come prebuilt, so Turbo builds only the extensions. */
async function release(options: { dryRun?: boolean; only?: string[]; publish?: boolean; bootTests?: boolean } = {}): Promise<ReleaseReport> {
  const policy = parsePolicy(await readFile(path.join(checkout, 'release.yaml'), 'utf8'), 'release.yaml');
  return runRelease(
    { root: checkout, policy, bootTests: false, readIndex: readTreeIndex, log: (line) => logs.push(line), ...options },
    { ...workspaceSteps(checkout, env, { turboArgs: ['--only'] }), bootTest: workspaceSteps(checkout, bootTestEnv()).bootTest },
  );
}

/** Boot tests share the testbed root that `bakehouse test` keeps in the default cache (built once per Flatcar release), not the test's private download cache. */
function bootTestEnv(): NodeJS.ProcessEnv {
  const { BAKEHOUSE_CACHE_DIR: _private, ...rest } = env;
  return { ...rest, ...(process.env.BAKEHOUSE_CACHE_DIR ? { BAKEHOUSE_CACHE_DIR: process.env.BAKEHOUSE_CACHE_DIR } : {}) };
}

const summary = (report: ReleaseReport) => report.outcomes.map((o) => [o.extension, o.status, o.step ?? '', o.images.join(' ')]);
const tree = () => path.join(checkout, 'out/stable');
const gitStatus = async () => (await execa('git', ['status', '--porcelain'], { cwd: checkout })).stdout;

describe('pnpm release', () => {
  it('--dry-run prints the plan from the locks and the published tree, and changes nothing', async () => {
    const status = await gitStatus();
    const report = await release({ dryRun: true });
    expect(report.flatcar).toEqual({ stable: '4230.2.1' });
    expect(summary(report)).toEqual([
      ['containerd', 'planned', '', 'containerd-2.3.4-x86-64.raw containerd-2.3.4-arm64.raw'],
      ['docker', 'planned', '', 'docker-28.5.2-x86-64.raw docker-28.5.2-arm64.raw'],
      ['kubernetes', 'planned', '', expect.stringContaining('kubernetes-1.36.3-x86-64.raw')],
    ]);
    expect(logs).toContain('containerd: would check upstream and bump');
    expect(renderReport(report, true)).toContain('dry run: nothing was changed');
    expect(await gitStatus()).toBe(status);
  }, 60_000);

  it('bumps, builds and publishes what changed; failures stay with their extension and fail the run', async () => {
    const report = await release();
    expect(summary(report)).toEqual([
      ['containerd', 'published', '', 'containerd-2.3.5-arm64.raw containerd-2.3.5-x86-64.raw'],
      ['docker', 'failed', 'bump', ''],
      ['kubernetes', 'failed', 'build', ''],
    ]);
    expect(report.ok).toBe(false);
    expect(report.outcomes.find((o) => o.extension === 'docker')?.detail).toContain('older than the locked');

    const index = (await readTreeIndex(tree()))!;
    expect(index.extensions.containerd!.images.map((i) => i.path).sort()).toEqual(['containerd/containerd-2.3.5-arm64.raw', 'containerd/containerd-2.3.5-x86-64.raw']);
    expect(Object.keys(index.extensions)).toEqual(['containerd']);
    const verify = await execa(process.execPath, [path.join(checkout, 'packages/cli/bin/bakehouse.js'), 'verify-release', tree()], { cwd: checkout, reject: false, all: true });
    expect(verify.exitCode, verify.all).toBe(0);

    const notes = await readFile(report.notesFile!, 'utf8');
    expect(report.notesFile).toBe(path.join(checkout, 'out/RELEASE-NOTES.md'));
    expect(notes).toContain('Flatcar: stable 4230.2.1');
    expect(notes).toContain('## containerd\n\n- `containerd-2.3.5-arm64.raw` (stable)\n- `containerd-2.3.5-x86-64.raw` (stable)');
    expect(notes).toContain('Bump containerd 2.3.4 → 2.3.5, runc 1.4.3 → 1.4.4.');
    expect(notes).not.toContain('## docker');
  }, 240_000);

  it('a second run with nothing new publishes nothing and says so', async () => {
    const before = await readFile(path.join(tree(), 'index.json'));
    const report = await release({ only: ['containerd'] });
    expect(summary(report)).toEqual([['containerd', 'up-to-date', '', '']]);
    expect(report.ok).toBe(true);
    expect(report.notesFile).toBeUndefined();
    expect(renderReport(report)).toContain('nothing new to publish');
    expect(await readFile(path.join(tree(), 'index.json'))).toEqual(before);
  }, 120_000);

  it('refuses a packaging change under a published version, and publishes it once it is a revision', async () => {
    await appendFile(path.join(checkout, 'extensions/containerd/files/usr/share/containerd/config.toml'), '\n# packaging change\n');
    const refused = await release({ only: ['containerd'] });
    expect(summary(refused)).toEqual([['containerd', 'failed', 'compare', '']]);
    expect(refused.outcomes[0]!.detail).toContain('bakehouse bump containerd --revision');

    const revise = await execa(process.execPath, [path.join(checkout, 'packages/cli/bin/bakehouse.js'), 'bump', 'containerd', '--revision', '-m', 'Comment the default config.'], { cwd: checkout, env, reject: false, all: true });
    expect(revise.exitCode, revise.all).toBe(0);
    // What a runner of the other arch does: build (and boot-test), publish nothing.
    const index = await readFile(path.join(tree(), 'index.json'));
    const tested = await release({ only: ['containerd'], publish: false });
    expect(summary(tested)).toEqual([['containerd', 'tested', '', 'containerd-2.3.5.r1-arm64.raw containerd-2.3.5.r1-x86-64.raw']]);
    expect(await readFile(path.join(tree(), 'index.json'))).toEqual(index);

    const report = await release({ only: ['containerd'] });
    expect(summary(report)).toEqual([['containerd', 'published', '', 'containerd-2.3.5.r1-arm64.raw containerd-2.3.5.r1-x86-64.raw']]);
    const versions = (await readTreeIndex(tree()))!.extensions.containerd!.images.map((i) => i.version);
    expect([...new Set(versions)].sort()).toEqual(['2.3.5', '2.3.5.r1']);
    expect(await readFile(report.notesFile!, 'utf8')).toContain('Comment the default config.');
    expect((await readdir(path.join(tree(), 'containerd'))).filter((f) => f.endsWith('.raw')).sort()).toEqual([
      'containerd-2.3.5-arm64.raw',
      'containerd-2.3.5-x86-64.raw',
      'containerd-2.3.5.r1-arm64.raw',
      'containerd-2.3.5.r1-x86-64.raw',
    ]);
  }, 240_000);

  it('an image that fails its boot test is not published, and the run fails', async () => {
    // The fake upstream's binaries are not real programs: containerd.service cannot start in the testbed.
    const revise = await execa(process.execPath, [path.join(checkout, 'packages/cli/bin/bakehouse.js'), 'bump', 'containerd', '--revision', '-m', 'Another packaging fix.'], { cwd: checkout, env, reject: false, all: true });
    expect(revise.exitCode, revise.all).toBe(0);
    const index = await readFile(path.join(tree(), 'index.json'));
    const report = await release({ only: ['containerd'], bootTests: true });
    expect(summary(report)).toEqual([['containerd', 'failed', 'boot-test', '']]);
    expect(report.outcomes[0]!.detail).toMatch(/containerd/);
    expect(report.ok).toBe(false);
    expect(renderReport(report)).toContain('nothing new to publish; 1 failed');
    expect(await readFile(path.join(tree(), 'index.json'))).toEqual(index);
  }, 600_000);
});
