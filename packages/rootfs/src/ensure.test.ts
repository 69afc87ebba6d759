import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type LoopbackServer } from '@bakehouse/fixtures';
import { ensureRoot, RootBuildError } from './ensure.js';
import { rootPath, type RootSpec } from './spec.js';

// Real mmdebstrap against the real Debian archive: each build takes 15–30 s.
const scratch = await mkdtemp(path.join(os.tmpdir(), 'rootfs-test-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe('ensureRoot', () => {
  it('builds a minbase root once, runs the customize script, and shares it with concurrent callers', async () => {
    const cacheDir = path.join(scratch, 'ok');
    const spec: RootSpec = {
      name: 'tiny',
      suite: 'trixie',
      packages: ['hello'],
      customize: 'echo "made by customize" > "$1/etc/bakehouse-marker"\n',
      cacheDir,
    };
    const builds: string[] = [];
    const [first, second] = await Promise.all([
      ensureRoot(spec, { log: (m) => builds.push(m) }),
      ensureRoot(spec, { log: (m) => builds.push(m) }),
    ]);
    expect(first).toBe(rootPath(spec));
    expect(second).toBe(first);
    expect(builds).toHaveLength(1);
    expect(await readFile(path.join(first, 'etc/bakehouse-marker'), 'utf8')).toBe('made by customize\n');
    expect((await stat(path.join(first, 'usr/bin/hello'))).isFile()).toBe(true);
    expect(await readFile(path.join(first, 'etc/os-release'), 'utf8')).toMatch(/VERSION_CODENAME=trixie/);
    // minbase: no documentation, and no half-built copies left next to the root.
    await expect(stat(path.join(first, 'usr/share/doc/hello/copyright'))).rejects.toThrow();
    expect((await readdir(path.dirname(first))).filter((e) => e.endsWith('.partial'))).toEqual([]);

    const inode = (await stat(first)).ino;
    const again = await ensureRoot(spec, { log: (m) => builds.push(m) });
    expect(again).toBe(first);
    expect((await stat(again)).ino).toBe(inode);
    expect(builds).toHaveLength(1);
  }, 240_000);

  it('caches nothing when the customize script fails', async () => {
    const cacheDir = path.join(scratch, 'failing-hook');
    const spec: RootSpec = { name: 'broken', suite: 'trixie', packages: ['hello'], customize: 'echo "no such thing" >&2; exit 3\n', cacheDir };
    const error = await ensureRoot(spec).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RootBuildError);
    expect((error as Error).message).toMatch(/root broken: mmdebstrap trixie failed[\s\S]*no such thing[\s\S]*customize script/);
    expect((await readdir(path.join(cacheDir, 'roots'))).filter((e) => !e.endsWith('.lock'))).toEqual([]);
  }, 240_000);

  describe('with an unreachable mirror', () => {
    let server: LoopbackServer;
    afterAll(() => server?.close());

    it('fails naming the mirror and leaves no root', async () => {
      server = await startServer((_req, res) => { res.statusCode = 404; res.end(); });
      const cacheDir = path.join(scratch, 'no-mirror');
      const spec: RootSpec = { name: 'nomirror', suite: 'trixie', packages: ['hello'], mirror: `${server.url}/debian`, cacheDir };
      await expect(ensureRoot(spec)).rejects.toThrow(new RegExp(`mmdebstrap trixie failed[\\s\\S]*Check that ${server.url}/debian is reachable`));
      expect((await readdir(path.join(cacheDir, 'roots'))).filter((e) => !e.endsWith('.lock'))).toEqual([]);
    }, 60_000);
  });
});
