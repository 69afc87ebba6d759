import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runBakehouse, serveDirectory, type LoopbackServer } from '@bakehouse/fixtures';
import { bootTestbed, ensureTestbedRoot, type BootResult, type PlacedFile } from './index.js';
import { repoFlatcarVersion } from './test-support/workspace.js';

// A host on v1 of an extension updates itself to v2 with trixie's systemd-sysupdate from a
// tree made by `bakehouse publish` and served on loopback, checking the tree's signature.
const NAME = 'hello';
const V1 = `${NAME}-1.0.0-x86-64.raw`;
const V2 = `${NAME}-2.0.0-x86-64.raw`;

let work: string;
let workspace: string;
let tree: string;
let server: LoopbackServer;
let root: string;
let gnupg: string;

async function bakehouse(...args: string[]): Promise<string> {
  const result = await runBakehouse(args, { cwd: workspace, env: { BAKEHOUSE_CACHE_DIR: path.join(work, 'cache') } });
  expect(result.exitCode, `bakehouse ${args.join(' ')}\n${result.all}`).toBe(0);
  return result.stdout;
}

/** A files-only extension whose content names its version, built and published as that version. */
async function release(version: string): Promise<void> {
  await writeFile(path.join(workspace, 'extensions', NAME, 'files/usr/share', NAME, 'version'), `${version}\n`);
  await bakehouse('bump', NAME, '--to', version);
  await bakehouse('build', NAME, '--arch', 'x86-64', '--quiet');
  await bakehouse('publish', NAME, '--out', tree, '--base-url', server.url, '--gnupg-home', gnupg, '--no-catalog');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'testbed-sysupdate-'));
  [tree, gnupg, workspace] = ['tree', 'gnupg', 'ws'].map((d) => path.join(work, d)) as [string, string, string];
  const ext = path.join(workspace, 'extensions', NAME);
  await mkdir(path.join(ext, 'files/usr/share', NAME), { recursive: true });
  await mkdir(path.join(workspace, '.changeset'));
  await mkdir(tree);
  await writeFile(path.join(workspace, 'pnpm-workspace.yaml'), 'packages:\n  - extensions/*\n');
  await writeFile(path.join(ext, 'package.json'), JSON.stringify({ name: NAME, version: '0.0.0', private: true, type: 'module' }));
  await writeFile(
    path.join(ext, 'extension.ts'),
    `import { defineExtension } from '@bakehouse/schema';\nexport default defineExtension({ name: '${NAME}', description: 'says which version it is', homepage: 'https://example.org', arch: ['x86-64'], release: { id: 'flatcar', compat: 'level' } });\n`,
  );
  // Any extension's node_modules resolve @bakehouse/schema.
  await symlink(path.join(REPO_ROOT, 'extensions/podman/node_modules'), path.join(ext, 'node_modules'));
  server = await serveDirectory(tree);
  root = await ensureTestbedRoot(await repoFlatcarVersion());
  await mkdir(gnupg, { mode: 0o700 });
  await bakehouse('keys', 'init', '--gnupg-home', gnupg);
  await release('1.0.0');
  // The host starts on v1, installed the way sysupdate installs it.
  await cp(path.join(ext, 'dist', V1), path.join(work, V1));
  await release('2.0.0');
}, 300_000);

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const UPDATE = `/usr/lib/systemd/systemd-sysupdate -C ${NAME} update`;
const LINK = `readlink /etc/extensions/${NAME}.raw`;
const CONTENT = `cat /usr/share/${NAME}/version`;
const REFRESH = 'systemd-sysext refresh';
const STATUS = 'systemd-sysext status';
const output = (result: BootResult, name: string) => result.checks.find((c) => c.name === name)?.output ?? '';

/** A host on v1, with the tree's transfer and public key where the Ignition config puts them. */
async function hostOnV1(): Promise<Record<string, PlacedFile>> {
  return {
    [`/opt/extensions/${NAME}/${V1}`]: { copy: path.join(work, V1) },
    [`/etc/extensions/${NAME}.raw`]: { symlink: `../../opt/extensions/${NAME}/${V1}` },
    [`/etc/sysupdate.${NAME}.d/${NAME}.transfer`]: await readFile(path.join(tree, NAME, `${NAME}.transfer`), 'utf8'),
    '/etc/systemd/import-pubring.gpg': { copy: path.join(tree, 'bakehouse-pubring.gpg') },
  };
}

describe('systemd-sysupdate against a published tree', () => {
  it('updates v1 to v2, moves the CurrentSymlink, and the refreshed merge shows v2', async () => {
    const before = `${CONTENT} # before`;
    const result = await bootTestbed({
      root,
      files: await hostOnV1(),
      checks: { units: [], commands: [before, UPDATE, LINK, REFRESH, CONTENT, STATUS] },
      network: 'host',
      timeoutMs: 120_000,
    });
    expect(result.ok, JSON.stringify({ ...result, console: result.console.slice(-2000) }, null, 2)).toBe(true);
    expect(output(result, before)).toBe('1.0.0');
    expect(output(result, LINK)).toBe(`../../opt/extensions/${NAME}/${V2}`);
    expect(output(result, CONTENT)).toBe('2.0.0');
    expect(output(result, STATUS)).toMatch(new RegExp(`/usr\\s+${NAME}\\s`));
    expect(server.requests).toEqual(expect.arrayContaining([`/${NAME}/SHA256SUMS`, `/${NAME}/SHA256SUMS.gpg`, `/${NAME}/${V2}`]));
  }, 180_000);

  it('refuses a tampered SHA256SUMS and keeps v1', async () => {
    const sums = path.join(tree, NAME, 'SHA256SUMS');
    await writeFile(sums, `${await readFile(sums, 'utf8')}${'0'.repeat(64)}  ${NAME}-3.0.0-x86-64.raw\n`);
    const refused = `! ${UPDATE}`;
    const result = await bootTestbed({
      root,
      files: await hostOnV1(),
      checks: { units: [], commands: [refused, LINK, CONTENT, `ls /opt/extensions/${NAME}`] },
      network: 'host',
      timeoutMs: 120_000,
    });
    expect(result.ok, JSON.stringify({ ...result, console: result.console.slice(-2000) }, null, 2)).toBe(true);
    expect(output(result, refused)).toMatch(/signature|gpg|verif/i);
    expect(output(result, LINK)).toBe(`../../opt/extensions/${NAME}/${V1}`);
    expect(output(result, CONTENT)).toBe('1.0.0');
    expect(output(result, `ls /opt/extensions/${NAME}`)).toBe(V1);
  }, 180_000);
});
