import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, scratchWorkspace, startFakeUpstreamApi, type FakeUpstreamApi } from '@bakehouse/fixtures';

const BIN = path.join(REPO_ROOT, 'packages/cli/bin/bakehouse.js');

let fake: FakeUpstreamApi;
let work: string;
const workspaces: string[] = [];

beforeAll(async () => {
  fake = await startFakeUpstreamApi();
  work = await mkdtemp(path.join(os.tmpdir(), 'cli-bump-test-'));
});
afterAll(async () => {
  await fake.close();
  await Promise.all([work, ...workspaces].map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Every upstream site points at the fake, through BAKEHOUSE_UPSTREAM_* unless a test passes flags instead. */
function bakehouse(args: string[], cwd: string, env: Record<string, string> = fake.env) {
  return execa(process.execPath, [BIN, ...args], {
    cwd,
    env: { BAKEHOUSE_CACHE_DIR: path.join(work, 'cache'), CI: '1', GITHUB_TOKEN: '', ...env },
    extendEnv: true,
    reject: false,
    all: true,
  });
}

async function workspace(): Promise<string> {
  const root = await scratchWorkspace(['containerd']);
  workspaces.push(root);
  return root;
}

describe('bakehouse versions', () => {
  it('tables each input\'s versions, newest first, with their source', async () => {
    const result = await bakehouse(['versions', 'containerd'], await workspace());
    expect(result.exitCode, result.all).toBe(0);
    const rows = result.stdout.split('\n').filter((line) => /│\s*(containerd|runc)\s*│/.test(line));
    expect(rows[0]).toMatch(/containerd\s*│\s*2\.3\.5\s*│\s*github:containerd\/containerd/);
    expect(rows.filter((row) => row.includes('runc'))[0]).toMatch(/runc\s*│\s*1\.4\.4\s*│\s*github:opencontainers\/runc/);
  });

  it('--json, with the API reached through an --upstream flag', async () => {
    const result = await bakehouse(['versions', 'containerd', '--json', '--upstream', `github-api=${fake.bases.githubApi}`], await workspace(), {});
    expect(result.exitCode, result.all).toBe(0);
    const rows = JSON.parse(result.stdout) as { input: string; version: string; source: string }[];
    expect(rows.filter((r) => r.input === 'runc')).toEqual(
      ['1.4.4', '1.4.3', '1.3.9'].map((version) => ({ input: 'runc', version, source: 'github:opencontainers/runc' })),
    );
    expect(rows.filter((r) => r.input === 'containerd').map((r) => r.version)).toEqual(['2.3.5', '2.3.4', '2.3.3', '2.2.10', '2.2.9', '1.7.30']);
  });

  it('refuses an --upstream flag naming no known site', async () => {
    const result = await bakehouse(['versions', 'containerd', '--upstream', 'gitlab=http://127.0.0.1:9'], await workspace());
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^bakehouse: --upstream gitlab=http:\/\/127\.0\.0\.1:9: expected NAME=URL with NAME one of github, github-api, k8s, docker, github-raw(, [a-z-]+)*$/);
  });
});

describe('bakehouse bump', () => {
  it('bumps every extension with an upstream, writes lock and changeset, then says up to date and writes nothing', async () => {
    const root = await workspace();
    const lockFile = path.join(root, 'extensions/containerd/extension.lock.json');

    const first = await bakehouse(['bump'], root);

    expect(first.exitCode, first.all).toBe(0);
    expect(first.stdout).toBe(
      'containerd: containerd 2.3.4 → 2.3.5, runc 1.4.3 → 1.4.4\n  wrote extensions/containerd/extension.lock.json and .changeset/bump-containerd-2.3.5.md',
    );
    const lock = JSON.parse(await readFile(lockFile, 'utf8'));
    expect(lock.images.map((image: { version: string; inputs: Record<string, { version: string }> }) => [image.version, image.inputs.runc?.version])).toEqual([['2.3.5', '1.4.4']]);
    expect(await readFile(path.join(root, '.changeset/bump-containerd-2.3.5.md'), 'utf8')).toContain('"containerd": patch');

    const lockBytes = await readFile(lockFile);
    const second = await bakehouse(['bump', 'containerd'], root);
    expect(second.exitCode, second.all).toBe(0);
    expect(second.stdout).toBe('containerd: up to date (2.3.5)');
    expect(await readFile(lockFile)).toEqual(lockBytes);
    expect(await readdir(path.join(root, '.changeset'))).toEqual(['bump-containerd-2.3.5.md']);
  });

  it('a wrong upstream checksum exits 1 naming the mismatch, leaving the lock byte-identical and no changeset', async () => {
    const root = await workspace();
    const lockFile = path.join(root, 'extensions/containerd/extension.lock.json');
    const lockBytes = await readFile(lockFile);

    const result = await bakehouse(['bump', 'containerd', '--to', '2.3.3'], root);

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^bakehouse: containerd: checksum mismatch for .*containerd-static-2\.3\.3-linux-arm64\.tar\.gz\n/m);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await readFile(lockFile)).toEqual(lockBytes);
    await expect(access(path.join(root, '.changeset'))).rejects.toThrow(/ENOENT/);
  });

  it('--to moves one named extension to that version, and refuses any other number of names', async () => {
    const root = await workspace();
    for (const names of [[], ['containerd', 'containerd']]) {
      const refused = await bakehouse(['bump', ...names, '--to', '2.2.10'], root);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toBe(`bakehouse: --to names one version: give exactly one extension name (got ${names.length})`);
    }
    const moved = await bakehouse(['bump', 'containerd', '--to', '2.2.10'], root);
    expect(moved.exitCode, moved.all).toBe(0);
    expect(moved.stdout).toMatch(/^containerd: containerd 2\.3\.4 → 2\.2\.10, runc 1\.4\.3 → 1\.3\.9\n/);
    expect(await readFile(path.join(root, '.changeset/bump-containerd-2.2.10.md'), 'utf8')).toContain('"containerd": minor');
  });
});
