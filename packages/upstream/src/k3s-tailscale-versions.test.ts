import { createHash } from 'node:crypto';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { scratchWorkspace, startServer, type LoopbackServer } from '@bakehouse/fixtures';
import { LOCK_FILE, parseExtension, parseLockStructure } from '@bakehouse/schema';
import { createJiti } from 'jiti';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_BASES } from './bases.js';
import { bump } from './bump.js';
import type { UpstreamContext } from './context.js';
import { UpstreamError } from './errors.js';
import { listVersions } from './list-versions.js';
import { isOlder } from './version-order.js';

/** k3s' tags: rebuilds of one Kubernetes release differ only in the build metadata (+k3s1, +k3s2). */
const K3S_TAGS = [
  { tag_name: 'v1.34.3+k3s1', prerelease: false },
  { tag_name: 'v1.35.0+k3s1', prerelease: false },
  { tag_name: 'v1.35.0+k3s2', prerelease: false },
  { tag_name: 'v1.35.1-rc1+k3s1', prerelease: true },
  { tag_name: 'v1.33.7+k3s10', prerelease: false },
  { tag_name: 'v1.33.7+k3s9', prerelease: false },
].map((release) => ({ ...release, draft: false }));

const bytes = (text: string) => Buffer.from(`${text}\n`);
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const K3S = { 'x86-64': bytes('k3s 1.35.0+k3s2 amd64'), arm64: bytes('k3s 1.35.0+k3s2 arm64') };
const TAILSCALE = { 'x86-64': bytes('tailscale 1.102.6 amd64 tarball'), arm64: bytes('tailscale 1.102.6 arm64 tarball') };

/** Files of a fake github.com, api.github.com and pkgs.tailscale.com, by request path. */
const SITE: Record<string, Buffer | string> = {
  '/api.github.com/repos/k3s-io/k3s/releases?per_page=100': JSON.stringify(K3S_TAGS),
  '/github.com/k3s-io/k3s/releases/download/v1.35.0+k3s2/k3s': K3S['x86-64'],
  '/github.com/k3s-io/k3s/releases/download/v1.35.0+k3s2/k3s-arm64': K3S.arm64,
  // Upstream's lists name the airgap images too; only the binary's line is the pin.
  '/github.com/k3s-io/k3s/releases/download/v1.35.0+k3s2/sha256sum-amd64.txt': `${'a'.repeat(64)}  k3s-airgap-images-amd64.tar.zst\n${sha256(K3S['x86-64'])}  k3s\n`,
  '/github.com/k3s-io/k3s/releases/download/v1.35.0+k3s2/sha256sum-arm64.txt': `${'b'.repeat(64)}  k3s-airgap-images-arm64.tar.zst\n${sha256(K3S.arm64)}  k3s-arm64\n`,
  '/pkgs.tailscale.com/stable/?mode=json': JSON.stringify({ TarballsVersion: '1.102.6', Tarballs: { amd64: 'tailscale_1.102.6_amd64.tgz', arm64: 'tailscale_1.102.6_arm64.tgz' }, MSIsVersion: '1.102.6' }),
  '/pkgs.tailscale.com/unstable/?mode=json': JSON.stringify({ TarballsVersion: '1.103.41', Tarballs: {} }),
  '/pkgs.tailscale.com/stable/tailscale_1.102.6_amd64.tgz': TAILSCALE['x86-64'],
  '/pkgs.tailscale.com/stable/tailscale_1.102.6_arm64.tgz': TAILSCALE.arm64,
  '/pkgs.tailscale.com/stable/tailscale_1.102.6_amd64.tgz.sha256': `${sha256(TAILSCALE['x86-64'])}\n`,
  '/pkgs.tailscale.com/stable/tailscale_1.102.6_arm64.tgz.sha256': `${sha256(TAILSCALE.arm64)}\n`,
};

let server: LoopbackServer;
let ctx: UpstreamContext;
let tmp: string;
let workspace: string;
let brokenListing = false;

beforeAll(async () => {
  server = await startServer((req, res) => {
    const url = req.url ?? '';
    const body = url.endsWith('?mode=json') && brokenListing ? '<html>not json</html>' : SITE[url];
    res.statusCode = body === undefined ? 404 : 200;
    res.end(body ?? 'not found');
  });
  ctx = {
    bases: { ...DEFAULT_BASES, github: `${server.url}/github.com`, githubApi: `${server.url}/api.github.com`, tailscale: `${server.url}/pkgs.tailscale.com` },
    http: { retries: 0 },
  };
  tmp = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-k3s-tailscale-'));
  workspace = await scratchWorkspace(['k3s', 'tailscale']);
});
afterAll(async () => {
  await server?.close();
  await Promise.all([tmp, workspace].map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The repository's own manifest and lock, loaded as the CLI loads them. */
async function load(name: string) {
  const dir = path.join(workspace, 'extensions', name);
  const file = path.join(dir, 'extension.ts');
  const manifest = parseExtension(await createJiti(import.meta.url).import(file, { default: true }), file);
  return { manifest, lock: parseLockStructure(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8')), LOCK_FILE), dir };
}

const options = () => ({ ctx, fetch: { cacheDir: path.join(tmp, 'cache'), retryDelayMs: 1 } });

describe('k3s versions (+k3sN build metadata)', () => {
  test('a later +k3sN of the same release is newer, numerically (k3s10 after k3s9)', async () => {
    const found = await listVersions({ type: 'github-releases', repo: 'k3s-io/k3s', tagPrefix: 'v' }, ctx);
    expect(found.map((v) => v.version)).toEqual(['1.35.0+k3s2', '1.35.0+k3s1', '1.34.3+k3s1', '1.33.7+k3s10', '1.33.7+k3s9']);
    expect(isOlder('1.35.0+k3s1', '1.35.0+k3s2')).toBe(true);
    expect(isOlder('1.35.0+k3s2', '1.35.0+k3s1')).toBe(false);
  });

  test('bump k3s moves the lock from 1.35.0+k3s1 to +k3s2, pinning the binary line of each sha256sum list', async () => {
    const result = await bump(await load('k3s'), options());
    expect(result.changes).toEqual([{ name: 'k3s', from: '1.35.0+k3s1', to: '1.35.0+k3s2' }]);
    expect(result.lock.images).toEqual([
      { version: '1.35.0+k3s2', inputs: { k3s: { version: '1.35.0+k3s2', sha256: { 'x86-64': sha256(K3S['x86-64']), arm64: sha256(K3S.arm64) }, checksum: 'upstream' } } },
    ]);
    for (const arch of ['x86-64', 'arm64'] as const) await access(path.join(tmp, 'cache/sha256', sha256(K3S[arch])));
  });
});

describe('tailscale-pkgs', () => {
  test('reads TarballsVersion from the track listing', async () => {
    expect(await listVersions({ type: 'tailscale-pkgs', track: 'stable' }, ctx)).toEqual([{ version: '1.102.6', source: `${server.url}/pkgs.tailscale.com/stable/?mode=json` }]);
    expect(await listVersions({ type: 'tailscale-pkgs', track: 'unstable' }, ctx)).toEqual([{ version: '1.103.41', source: `${server.url}/pkgs.tailscale.com/unstable/?mode=json` }]);
  });

  test('bump tailscale pins each tarball from the .sha256 beside it', async () => {
    const result = await bump(await load('tailscale'), options());
    expect(result.changes).toEqual([{ name: 'tailscale', from: '1.102.5', to: '1.102.6' }]);
    expect(result.lock.images[0]!.inputs.tailscale).toEqual({ version: '1.102.6', sha256: { 'x86-64': sha256(TAILSCALE['x86-64']), arm64: sha256(TAILSCALE.arm64) }, checksum: 'upstream' });
  });

  test('a listing that is not the JSON it should be fails naming the URL', async () => {
    brokenListing = true;
    try {
      const error = await listVersions({ type: 'tailscale-pkgs', track: 'stable' }, ctx).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as Error).message).toContain(`${server.url}/pkgs.tailscale.com/stable/?mode=json: expected pkgs.tailscale.com's JSON listing`);
    } finally {
      brokenListing = false;
    }
  });
});
