import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FetchError } from '@bakehouse/builder';
import { scratchWorkspace, startFakeUpstreamApi, type FakeUpstreamApi } from '@bakehouse/fixtures';
import { LOCK_FILE, parseExtension, parseLockStructure, type ExtensionInput, type ExtensionLock, type ExtensionManifest } from '@bakehouse/schema';
import { createJiti } from 'jiti';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bump, type BumpOptions } from './bump.js';
import type { UpstreamContext } from './context.js';
import { BumpError } from './errors.js';
import { writeBump } from './write-bump.js';

let fake: FakeUpstreamApi;
let ctx: UpstreamContext;
let tmp: string;
const cleanup: string[] = [];

beforeAll(async () => {
  fake = await startFakeUpstreamApi();
  ctx = { bases: fake.bases, http: { retries: 0 } };
  tmp = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-bump-'));
});
afterAll(async () => {
  await fake.close();
  await Promise.all([tmp, ...cleanup].map((dir) => rm(dir, { recursive: true, force: true })));
});

const options = (extra: Partial<BumpOptions> = {}): BumpOptions => ({ ctx, fetch: { cacheDir: path.join(tmp, 'cache'), retryDelayMs: 1 }, ...extra });

/** Pins the fake serves, by upstream URL template and version, for both arches. */
function pins(template: string, version: string, arch: 'goarch' | 'uname' = 'goarch') {
  const spell = { goarch: { 'x86-64': 'amd64', arm64: 'arm64' }, uname: { 'x86-64': 'x86_64', arm64: 'aarch64' } }[arch];
  const url = (a: 'x86-64' | 'arm64') => template.replaceAll('{version}', version).replace(`{${arch}}`, spell[a]);
  return { 'x86-64': fake.sha256(url('x86-64')), arm64: fake.sha256(url('arm64')) };
}

const CONTAINERD_URL = 'https://github.com/containerd/containerd/releases/download/v{version}/containerd-static-{version}-linux-{goarch}.tar.gz';
const RUNC_URL = 'https://github.com/opencontainers/runc/releases/download/v{version}/runc.{goarch}';

describe('bump of the containerd extension, against the fake upstream', () => {
  async function containerdWorkspace() {
    const root = await scratchWorkspace(['containerd']);
    cleanup.push(root);
    const dir = path.join(root, 'extensions/containerd');
    const load = async () => {
      const file = path.join(dir, 'extension.ts');
      // jiti, as the CLI loads manifests: the copy's tsconfig.json extends a file the scratch workspace lacks, which vite would read.
      const manifest = parseExtension(await createJiti(import.meta.url).import(file, { default: true }), file);
      return { manifest, lock: parseLockStructure(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8')), LOCK_FILE) };
    };
    return { root, load, lockFile: path.join(dir, LOCK_FILE), changesetDir: path.join(root, '.changeset') };
  }

  test('moves containerd and runc to the newest releases, pins and caches them, writes lock and changeset; a second run changes nothing', async () => {
    const ws = await containerdWorkspace();
    const original = await ws.load();

    const result = await bump(original, options());

    expect(result.changes).toEqual([
      { name: 'containerd', from: '2.3.4', to: '2.3.5' },
      { name: 'runc', from: '1.4.3', to: '1.4.4' },
    ]);
    expect(result.lock).toEqual({
      $comment: original.lock.$comment,
      lockVersion: 1,
      images: [
        {
          version: '2.3.5',
          inputs: {
            containerd: { version: '2.3.5', sha256: pins(CONTAINERD_URL, '2.3.5'), checksum: 'upstream' },
            runc: { version: '1.4.4', sha256: pins(RUNC_URL, '1.4.4'), checksum: 'upstream' },
          },
        },
      ],
    });
    // Every pinned file was downloaded against its pin, so the next build needs no network.
    for (const input of Object.values(result.lock.images[0]!.inputs))
      for (const sha256 of Object.values(input.sha256)) await access(path.join(tmp, 'cache/sha256', sha256!));

    const changeset = await writeBump(result, ws);
    expect(path.relative(ws.root, changeset!)).toBe('.changeset/bump-containerd-2.3.5.md');
    expect(await readFile(changeset!, 'utf8')).toBe('---\n"containerd": patch\n---\n\nBump containerd 2.3.4 → 2.3.5, runc 1.4.3 → 1.4.4.\n');
    expect(JSON.parse(await readFile(ws.lockFile, 'utf8'))).toEqual(result.lock);

    const lockBytes = await readFile(ws.lockFile);
    const requestsBefore = fake.requests.length;
    const again = await bump(await ws.load(), options());
    expect(again).toMatchObject({ upToDate: true, changes: [] });
    expect(await writeBump(again, ws)).toBeUndefined();
    expect(await readFile(ws.lockFile)).toEqual(lockBytes);
    expect(await readdir(ws.changesetDir)).toEqual(['bump-containerd-2.3.5.md']);
    // Unchanged pins are kept, not fetched again: only the release lists were read.
    expect(fake.requests.slice(requestsBefore).every((url) => url.startsWith('/api.github.com/') || url.endsWith('/script/setup/runc-version'))).toBe(true);
  });

  test('--to moves the image to that version (a minor change here); runc follows to the minor containerd 2.2.10 names', async () => {
    const ws = await containerdWorkspace();

    const result = await bump(await ws.load(), options({ to: '2.2.10' }));

    expect(result.changes).toEqual([
      { name: 'containerd', from: '2.3.4', to: '2.2.10' },
      { name: 'runc', from: '1.4.3', to: '1.3.9' },
    ]);
    expect(result.lock.images[0]?.inputs.containerd).toEqual({ version: '2.2.10', sha256: pins(CONTAINERD_URL, '2.2.10'), checksum: 'upstream' });
    const changeset = await writeBump(result, ws);
    expect(path.basename(changeset!)).toBe('bump-containerd-2.2.10.md');
    expect(await readFile(changeset!, 'utf8')).toContain('"containerd": minor');
  });

  test('runc stays within the minor containerd names in script/setup/runc-version, while a newer runc 1.5 is out', async () => {
    const own = await startFakeUpstreamApi();
    try {
      await own.releaseRunc('1.5.0');
      const ws = await containerdWorkspace();
      const ownOptions = options({ ctx: { bases: own.bases, http: { retries: 0 } } });

      const result = await bump(await ws.load(), ownOptions);

      expect(own.requests).toContain('/raw.githubusercontent.com/containerd/containerd/v2.3.5/script/setup/runc-version');
      expect(result.changes).toEqual([
        { name: 'containerd', from: '2.3.4', to: '2.3.5' },
        { name: 'runc', from: '1.4.3', to: '1.4.4' },
      ]);
      // Without the bound, the same upstream would move runc to 1.5.0.
      const { manifest, lock } = await ws.load();
      const unbound = { ...manifest, inputs: manifest.inputs.map((i) => (i.name === 'runc' ? { ...i, versionFrom: { source: i.versionFrom!.source } } : i)) };
      expect((await bump({ manifest: unbound, lock }, ownOptions)).lock.images[0]?.inputs.runc?.version).toBe('1.5.0');
    } finally {
      await own.close();
    }
  });

  test('the current lock satisfies the bound: containerd 2.3.4 names runc v1.4.3, which it pins', async () => {
    const ws = await containerdWorkspace();
    const { manifest, lock } = await ws.load();
    expect(lock.images[0]).toMatchObject({ version: '2.3.4', inputs: { runc: { version: '1.4.3' } } });
    const result = await bump({ manifest, lock }, options({ to: '2.3.4' }));
    expect(result.lock.images[0]?.inputs.runc?.version).toMatch(/^1\.4\./);
  });

  test('a runc-version file that names no version (a commit, as on a branch) is refused, and nothing is written', async () => {
    const ws = await containerdWorkspace();
    const { manifest, lock } = await ws.load();
    const odd = {
      ...manifest,
      inputs: manifest.inputs.map((i) => (i.name === 'runc' ? { ...i, versionFrom: { ...i.versionFrom!, minorFrom: { url: 'https://github.com/containerd/containerd/releases/download/v{version}/containerd-static-{version}-linux-amd64.tar.gz.sha256sum' } } } : i)),
    };
    await expect(bump({ manifest: odd, lock }, options())).rejects.toThrow(/input "runc" follows the version .* names, but it holds "[0-9a-f]{64} {2}containerd-sta", not a version such as "v1\.4\.3"/);
    await expect(access(ws.changesetDir)).rejects.toThrow(/ENOENT/);
  });

  test('a wrong upstream checksum fails with the download\'s mismatch, and nothing is written', async () => {
    const ws = await containerdWorkspace();
    const lockBytes = await readFile(ws.lockFile);

    const error = await bump(await ws.load(), options({ to: '2.3.3' })).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FetchError);
    expect((error as FetchError).message).toMatch(/checksum mismatch for .*containerd-static-2\.3\.3-linux-arm64\.tar\.gz/);
    expect(await readFile(ws.lockFile)).toEqual(lockBytes);
    await expect(access(ws.changesetDir)).rejects.toThrow(/ENOENT/);
  });

  test('without an upstream, the version must be given with --to', async () => {
    const { manifest } = await (await containerdWorkspace()).load();
    const manual = { manifest: { ...manifest, upstream: undefined } };

    await expect(bump(manual, options())).rejects.toThrow(BumpError);
    await expect(bump(manual, options())).rejects.toThrow(/no "upstream".*--to/);
    expect((await bump(manual, options({ to: '2.3.5' }))).lock.images[0]?.version).toBe('2.3.5');
  });
});

describe('bump of an extension with lines', () => {
  const KUBELET_URL = 'https://dl.k8s.io/release/v{version}/bin/linux/{goarch}/kubelet';
  const CRICTL_URL = 'https://github.com/kubernetes-sigs/cri-tools/releases/download/v{version}/crictl-v{version}-linux-{goarch}.tar.gz';
  const kube = manifestOf({
    name: 'kube',
    upstream: { type: 'kubernetes-stable' },
    lines: ['1.34', '1.33'],
    inputs: [
      { name: 'kubelet', kind: 'file', url: KUBELET_URL, checksum: { from: 'file', url: '{url}.sha256' }, extract: [{ to: '/usr/bin/kubelet', mode: 0o755 }] },
      {
        name: 'crictl',
        kind: 'tar.gz',
        url: CRICTL_URL,
        versionFrom: { source: { type: 'github-releases', repo: 'kubernetes-sigs/cri-tools' }, range: '~{line}' },
        checksum: { from: 'file', url: '{url}.sha256' },
        extract: [{ from: 'crictl', to: '/usr/bin/crictl' }],
      },
    ],
  });
  const image = (line: string, version: string, crictl: string) => ({
    line,
    version,
    inputs: {
      kubelet: { version, sha256: pins(KUBELET_URL, version), checksum: 'upstream' },
      crictl: { version: crictl, sha256: pins(CRICTL_URL, crictl), checksum: 'upstream' },
    },
  });
  let first: ExtensionLock;

  test('pins each line to its latest patch, and an input with range "~{line}" to its newest release in that line', async () => {
    const result = await bump({ manifest: kube }, options());
    first = result.lock;

    expect(result.lock.images).toEqual([image('1.34', '1.34.2', '1.34.1'), image('1.33', '1.33.6', '1.33.2')]);
    const root = await mkdtemp(path.join(tmp, 'ws-'));
    const changeset = await writeBump(result, { lockFile: path.join(root, LOCK_FILE), changesetDir: path.join(root, '.changeset') });
    expect(path.basename(changeset!)).toBe('bump-kube-1.34.2-1.33.6.md');
    expect(await readFile(changeset!, 'utf8')).toBe(
      '---\n"kube": minor\n---\n\nBump:\n\n' +
        '- 1.34: kube 1.34.2 (new), kubelet 1.34.2 (new), crictl 1.34.1 (new)\n' +
        '- 1.33: kube 1.33.6 (new), kubelet 1.33.6 (new), crictl 1.33.2 (new)\n',
    );
  });

  test('--to moves only the line it names', async () => {
    const result = await bump({ manifest: kube, lock: first }, options({ to: '1.33.5' }));

    expect(result.lock.images).toEqual([first.images[0], image('1.33', '1.33.5', '1.33.2')]);
    expect(result.changes).toEqual([
      { line: '1.33', name: 'kube', from: '1.33.6', to: '1.33.5' },
      { line: '1.33', name: 'kubelet', from: '1.33.6', to: '1.33.5' },
    ]);
    await expect(bump({ manifest: kube, lock: first }, options({ to: '1.35.0' }))).rejects.toThrow("--to 1.35.0 is in none of kube's lines (1.34, 1.33)");
  });
});

test('an input whose upstream publishes no checksum gets the hash of its download, recorded as "computed"', async () => {
  const DOCKER_URL = 'https://download.docker.com/linux/static/stable/{uname}/docker-{version}.tgz';
  const docker = manifestOf({
    name: 'docker',
    upstream: { type: 'docker-static-index' },
    inputs: [{ name: 'docker', kind: 'tar.gz', url: DOCKER_URL, checksum: { from: 'download' }, extract: [{ from: 'docker/dockerd', to: '/usr/bin/dockerd' }] }],
  });

  const result = await bump({ manifest: docker }, options());

  expect(result.lock.images).toEqual([{ version: '28.0.1', inputs: { docker: { version: '28.0.1', sha256: pins(DOCKER_URL, '28.0.1', 'uname'), checksum: 'computed' } } }]);
});

function manifestOf(fields: Pick<ExtensionInput, 'name' | 'upstream' | 'lines' | 'inputs'>): ExtensionManifest {
  return parseExtension({ description: `${fields.name} for tests`, homepage: 'https://example.org', ...fields }, `${fields.name}/extension.ts`);
}

test('never goes back on its own: an upstream whose newest release is older than the lock\'s is refused', async () => {
  const manifest = manifestOf({
    name: 'runc-only',
    upstream: { type: 'github-releases', repo: 'opencontainers/runc', tagPrefix: 'v' },
    inputs: [
      {
        name: 'runc',
        kind: 'file',
        url: RUNC_URL,
        checksum: { from: 'sha256sums', url: 'https://github.com/opencontainers/runc/releases/download/v{version}/runc.sha256sum' },
        extract: [{ to: '/usr/bin/runc' }],
      },
    ],
  });
  const ahead = { lockVersion: 1 as const, images: [{ version: '1.5.0', inputs: { runc: { version: '1.5.0', sha256: pins(RUNC_URL, '1.4.4'), checksum: 'upstream' as const } } }] };

  await expect(bump({ manifest, lock: ahead }, options())).rejects.toThrow(
    'runc-only: the newest release upstream offers is 1.4.4, older than the locked 1.5.0; to go back, bump --to 1.4.4',
  );
  expect((await bump({ manifest, lock: ahead }, options({ to: '1.4.4' }))).changes).toEqual([{ name: 'runc-only', from: '1.5.0', to: '1.4.4' }, { name: 'runc', from: '1.5.0', to: '1.4.4' }]);

  const withOwnUpstream = manifestOf({
    name: 'with-runc',
    upstream: { type: 'github-releases', repo: 'containerd/containerd', tagPrefix: 'v' },
    inputs: [{ ...manifest.inputs[0]!, versionFrom: { source: { type: 'github-releases', repo: 'opencontainers/runc', tagPrefix: 'v' } } }],
  });
  await expect(bump({ manifest: withOwnUpstream, lock: { ...ahead, images: [{ ...ahead.images[0]!, version: '2.3.5' }] } }, options())).rejects.toThrow(
    'with-runc: the newest release of input "runc" is 1.4.4, older than the locked 1.5.0; to go back, narrow its versionFrom.range',
  );
});
