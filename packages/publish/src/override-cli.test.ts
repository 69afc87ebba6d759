import { createHash } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerdUpstream, fixtureBuildEnv, runBakehouse, scratchWorkspace, serveDirectory, type LoopbackServer } from '@bakehouse/fixtures';

/**
 * What `pnpm bench` and the tests do: build a real extension against a fake upstream through
 * source overrides. Such a build goes to --out (never into dist/), says what it is, and the real
 * CLI's publish refuses it unless told --allow-overrides, leaving the tree as it was.
 */
let work: string;
let ws: string;
let site: LoopbackServer;
let env: Record<string, string>;
let gnupgHome: string;
const IMAGE = 'containerd-2.3.4-x86-64.raw';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-override-cli-'));
  site = await serveDirectory(path.join(work, 'site'));
  env = await fixtureBuildEnv(work, await containerdUpstream(path.join(work, 'site'), site.url));
  ws = await scratchWorkspace(['containerd']);
  gnupgHome = path.join(work, 'gnupg');
  await mkdir(gnupgHome);
  await chmod(gnupgHome, 0o700);
  const init = await runBakehouse(['keys', 'init', '--gnupg-home', gnupgHome], { cwd: ws });
  expect(init.exitCode, init.all).toBe(0);
}, 60_000);
afterAll(async () => {
  await site?.close();
  await execa('gpgconf', ['--homedir', gnupgHome, '--kill', 'all'], { reject: false });
  await Promise.all([work, ws].map((dir) => dir && rm(dir, { recursive: true, force: true })));
});

async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      files.set(path.relative(dir, file), `${createHash('sha256').update(await readFile(file)).digest('hex')} ${(await stat(file)).mtimeMs}`);
    }
  return files;
}

describe('a build from fake upstream files cannot pass for a release', () => {
  it('--out keeps it out of dist/, inspect and build say it is an override build, and publish refuses it without --allow-overrides', async () => {
    const out = path.join(work, 'out');
    const build = await runBakehouse(['build', 'containerd', '--arch', 'x86-64', '--quiet', '--out', out], { cwd: ws, env });
    expect(build.exitCode, build.all).toBe(0);
    expect(build.stderr).toContain(`${IMAGE}: built from source overrides (containerd, runc), not the lock's pins`);
    await expect(access(path.join(ws, 'extensions/containerd/dist'))).rejects.toThrow(/ENOENT/);
    expect((await readdir(path.join(out, 'containerd'))).sort()).toEqual(['SHA256SUMS', 'containerd-2.3.4-x86-64.json', IMAGE, 'containerd-2.3.4-x86-64.spdx.json']);

    const inspect = await runBakehouse(['inspect', path.join(out, 'containerd', IMAGE)], { cwd: ws });
    expect(inspect.stdout).toContain("OVERRIDE BUILD: containerd, runc came from source overrides, not the lock's pins");
    expect(inspect.stdout).toContain('BAKEHOUSE_SOURCE_OVERRIDES=containerd runc');

    // Nothing in dist/: a publish of the workspace finds nothing to publish.
    const tree = path.join(work, 'tree');
    const publishArgs = ['publish', '--out', tree, '--base-url', 'https://sysext.example.org/flatcar', '--gnupg-home', gnupgHome];
    const fromDist = await runBakehouse(publishArgs, { cwd: ws });
    expect(fromDist.exitCode).toBe(1);
    expect(fromDist.stderr).toMatch(/^bakehouse: no extension has built images: run bakehouse build first/);
    await expect(access(tree)).rejects.toThrow(/ENOENT/);

    // Deliberately published, it stays marked.
    const allowed = await runBakehouse([...publishArgs, '--from', out, '--allow-overrides'], { cwd: ws });
    expect(allowed.exitCode, allowed.all).toBe(0);
    expect(allowed.stdout).toContain(`OVERRIDE containerd/${IMAGE}: built from source overrides (containerd, runc)`);
    const index = JSON.parse(await readFile(path.join(tree, 'index.json'), 'utf8'));
    expect(index.extensions.containerd.images[0].overrides).toEqual(['containerd', 'runc']);
    const verified = await runBakehouse(['verify-release', tree], { cwd: ws });
    expect(verified.exitCode, verified.all).toBe(0);
    expect(verified.stdout).toContain(`override containerd/${IMAGE}`);
    expect(verified.stdout).toContain(`untested containerd/${IMAGE}`);

    const before = await snapshot(tree);
    const refused = await runBakehouse([...publishArgs, '--from', out], { cwd: ws });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^bakehouse: nothing was published: 1 problem\\(s\\) with the images of containerd:\\n  - ${path.join(out, 'containerd', IMAGE).replace(/[.+]/g, '\\$&')}: built from source overrides \\(containerd, runc\\)`));
    expect(await snapshot(tree)).toEqual(before);
  }, 120_000);
});
