import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBakehouse, startRegistry, type LoopbackRegistry } from '@bakehouse/fixtures';

let root: string;
let gnupgHome: string;
let registry: LoopbackRegistry;

/** A workspace with one files-only extension whose image the real CLI builds offline. */
async function workspace(): Promise<string> {
  const ws = path.join(root, 'ws');
  const ext = path.join(ws, 'extensions/hello');
  await mkdir(path.join(ext, 'files/usr/share/hello'), { recursive: true });
  await writeFile(path.join(ws, 'pnpm-workspace.yaml'), 'packages:\n  - extensions/*\n');
  await writeFile(path.join(ext, 'package.json'), JSON.stringify({ name: 'hello', version: '0.0.0', private: true, type: 'module' }));
  await writeFile(
    path.join(ext, 'extension.ts'),
    `export default { name: 'hello', description: 'says hello', homepage: 'https://example.org', arch: ['x86-64'], conflicts: { builtins: ['docker-flatcar'] } };\n`,
  );
  await writeFile(path.join(ext, 'extension.lock.json'), JSON.stringify({ lockVersion: 1, images: [{ version: '1.0.0', inputs: {} }] }));
  await writeFile(path.join(ext, 'files/usr/share/hello/greeting'), 'hello\n');
  return ws;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-publish-cli-'));
  gnupgHome = path.join(root, 'gnupg');
  await mkdir(gnupgHome);
  await chmod(gnupgHome, 0o700);
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.close();
  await execa('gpgconf', ['--homedir', gnupgHome, '--kill', 'all'], { reject: false });
  await rm(root, { recursive: true, force: true });
});

describe('bakehouse publish, verify-release, keys, pull', () => {
  it('creates a key, publishes a verified tree and OCI artifacts, and pulls an image back', async () => {
    const ws = await workspace();
    const env = { BAKEHOUSE_CACHE_DIR: path.join(root, 'cache') };
    const built = await runBakehouse(['build', 'hello', '--quiet', '--offline'], { cwd: ws, env });
    expect(built.exitCode, built.all).toBe(0);

    const init = await runBakehouse(['keys', 'init', '--gnupg-home', gnupgHome], { cwd: ws });
    expect(init.exitCode, init.all).toBe(0);
    const fingerprint = init.stdout.split('\n')[0]!;
    expect(fingerprint).toMatch(/^[0-9A-F]{40}$/);

    const out = path.join(root, 'tree');
    const noBase = await runBakehouse(['publish', '--out', out, '--gnupg-home', gnupgHome], { cwd: ws });
    expect(noBase.exitCode).toBe(1);
    expect(noBase.stderr).toMatch(/^bakehouse: .*pass --base-url/);

    const published = await runBakehouse(['publish', '--out', out, '--base-url', 'https://example.org/sysext/', '--gnupg-home', gnupgHome, '--oci', `http://${registry.host}/sysext/hello`], { cwd: ws });
    expect(published.exitCode, published.all).toBe(0);
    expect(published.stdout).toContain(`signed by ${fingerprint}`);
    expect(published.stdout).toContain(`${registry.host}/sysext/hello:1.0.0-x86-64,latest-x86-64 sha256:`);

    const verified = await runBakehouse(['verify-release', out], { cwd: ws });
    expect(verified.exitCode, verified.all).toBe(0);
    expect(verified.stdout).toContain('2 signature(s) and 1 image(s) verified');

    // The exported key is the one the tree publishes, and what the tree's signatures need.
    const exported = path.join(root, 'exported.gpg');
    const exportRun = await runBakehouse(['keys', 'export', '--gnupg-home', gnupgHome, '--output', exported], { cwd: ws });
    expect(exportRun.exitCode, exportRun.all).toBe(0);
    expect(await readFile(exported)).toEqual(await readFile(path.join(out, 'bakehouse-pubring.gpg')));
    expect((await runBakehouse(['verify-release', out, '--keyring', exported], { cwd: ws })).exitCode).toBe(0);

    // The same key from the environment, with an empty keyring, signs the same tree: nothing changes.
    const { stdout: secret } = await execa('gpg', ['--homedir', gnupgHome, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--armor', '--export-secret-keys', fingerprint]);
    const emptyHome = path.join(root, 'empty-gnupg');
    await mkdir(emptyHome, { mode: 0o700 });
    const again = await runBakehouse(['publish', '--out', out, '--gnupg-home', emptyHome], { cwd: ws, env: { BAKEHOUSE_SIGNING_KEY: secret } });
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stdout).not.toContain('wrote');

    const pulledDir = path.join(root, 'pulled');
    const pulled = await runBakehouse(['pull', `${registry.host}/sysext/hello:latest-x86-64`, '--insecure', '--out', pulledDir], { cwd: ws });
    expect(pulled.exitCode, pulled.all).toBe(0);
    const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8'));
    const sha = createHash('sha256').update(await readFile(path.join(pulledDir, 'hello-1.0.0-x86-64.raw'))).digest('hex');
    expect(sha).toBe(index.extensions.hello.images[0].sha256);

    const missing = await runBakehouse(['pull', `${registry.host}/sysext/hello:9.9.9-x86-64`, '--insecure', '--out', pulledDir], { cwd: ws });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/^bakehouse: GET .*9\.9\.9-x86-64: HTTP 404/);
    await execa('gpgconf', ['--homedir', emptyHome, '--kill', 'all'], { reject: false });
  });
});
