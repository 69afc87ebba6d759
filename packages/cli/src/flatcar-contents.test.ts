import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLATCAR_CONTENTS_FIXTURE, flatcarContentsList, runBakehouse, scratchWorkspace, startServer, type LoopbackServer } from '@bakehouse/fixtures';

const RELEASE = { channel: 'stable', version: '4230.2.1', board: 'amd64-usr' };
// Flatcar's list with one path that the containerd extension also ships.
const CONTENTS = flatcarContentsList([...FLATCAR_CONTENTS_FIXTURE, { path: '/usr/bin/ctr', type: 'file', size: 40_000 }]);

let server: LoopbackServer;
let workspace: string;
let cacheDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startServer((req, res) => {
    if (req.url === '/stable/amd64-usr/4230.2.1/flatcar_production_image_contents.txt') return void res.end(CONTENTS);
    if (req.url === '/stable/amd64-usr/4230.1.0/flatcar_production_image_contents.txt') return void res.end('<html>maintenance</html>\n');
    res.statusCode = 404;
    res.end('not found');
  });
  workspace = await scratchWorkspace(['containerd', 'podman']);
  await writeFile(path.join(workspace, 'flatcar.json'), `${JSON.stringify(RELEASE)}\n`);
  cacheDir = await mkdtemp(path.join(os.tmpdir(), 'flatcar-contents-cache-'));
  env = { BAKEHOUSE_CACHE_DIR: cacheDir, BAKEHOUSE_UPSTREAM_FLATCAR: `${server.url}/{channel}` };
});
afterAll(async () => {
  await server?.close();
  await rm(workspace, { recursive: true, force: true });
  await rm(cacheDir, { recursive: true, force: true });
});

const cached = (version: string) => path.join(cacheDir, 'flatcar/amd64-usr', version, 'flatcar_production_image_contents.txt');
const exists = (file: string) => access(file).then(() => true, () => false);

describe("bakehouse lint against Flatcar's /usr", () => {
  it('says the check did not run while no list is cached', async () => {
    const lint = await runBakehouse(['lint'], { cwd: workspace, env });
    expect(lint.exitCode, lint.all).toBe(0);
    expect(lint.stdout).toContain("note: Flatcar's image contents list is not cached");
  });

  it('refuses a list that is not one, caching nothing', async () => {
    const fetched = await runBakehouse(['flatcar', 'contents', '--version', '4230.1.0'], { cwd: workspace, env });
    expect(fetched.exitCode).toBe(1);
    expect(fetched.stderr).toContain("flatcar_production_image_contents.txt:1: not a line of Flatcar's image contents list");
    expect(await exists(cached('4230.1.0'))).toBe(false);
  });

  it("fetches flatcar.json's release list into the cache, then lint names the image that shadows a base file", async () => {
    const fetched = await runBakehouse(['flatcar', 'contents'], { cwd: workspace, env });
    expect(fetched.exitCode, fetched.all).toBe(0);
    expect(fetched.stdout).toContain('Flatcar 4230.2.1 (amd64-usr): 17 paths under /usr');
    expect(await readFile(cached('4230.2.1'), 'utf8')).toBe(CONTENTS);

    const lint = await runBakehouse(['lint'], { cwd: workspace, env });
    expect(lint.exitCode).toBe(1);
    expect(lint.stderr.trim()).toBe(
      "extensions/containerd/extension.ts: overridesBase: /usr/bin/ctr: Flatcar 4230.2.1 ships this path; the image would replace the host's own; if this is on purpose, declare it in the manifest: overridesBase: [{ path: '/usr/bin/ctr', reason: '…' }]",
    );
  });

  it('passes once the manifest declares the override, and reads a list given as a file', async () => {
    const manifest = path.join(workspace, 'extensions/containerd/extension.ts');
    const original = await readFile(manifest, 'utf8');
    await writeFile(manifest, original.replace("  smoke: {", "  overridesBase: [{ path: '/usr/bin/ctr', reason: 'containerd ships its own ctr' }],\n  smoke: {"));
    try {
      const lint = await runBakehouse(['lint'], { cwd: workspace, env });
      expect(lint.exitCode, lint.all).toBe(0);
    } finally {
      await writeFile(manifest, original);
    }
    const file = path.join(cacheDir, 'given.txt');
    await writeFile(file, flatcarContentsList([...FLATCAR_CONTENTS_FIXTURE, { path: '/usr/bin/podman', type: 'file', size: 1 }]));
    const given = await runBakehouse(['lint', '--flatcar-contents', file], { cwd: workspace, env });
    expect(given.exitCode).toBe(1);
    expect(given.stderr).toContain('extensions/podman/extension.ts: overridesBase: /usr/bin/podman: Flatcar 4230.2.1 ships this path');
    expect(given.stderr).not.toContain('/usr/bin/ctr');
  });
});
