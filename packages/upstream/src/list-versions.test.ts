import { FAKE_UPSTREAM, startFakeUpstreamApi, type FakeUpstreamApi } from '@bakehouse/fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { UpstreamContext } from './context.js';
import { UpstreamError } from './errors.js';
import { listVersions } from './list-versions.js';

let fake: FakeUpstreamApi;
let ctx: UpstreamContext;

beforeAll(async () => {
  fake = await startFakeUpstreamApi();
  ctx = { bases: fake.bases, http: { retries: 0 } };
});
afterAll(() => fake.close());

const versions = (found: { version: string }[]) => found.map((v) => v.version);

describe('github-releases', () => {
  const containerd = { type: 'github-releases', repo: 'containerd/containerd', tagPrefix: 'v' } as const;

  test('follows the Link header through every page and orders by version, skipping drafts and pre-releases', async () => {
    const before = fake.requests.length;
    const found = await listVersions(containerd, ctx);

    expect(versions(found)).toEqual(['2.3.5', '2.3.4', '2.3.3', '2.2.10', '2.2.9', '1.7.30']);
    expect(found[0]).toEqual({ version: '2.3.5', source: 'github:containerd/containerd' });
    const pages = Math.ceil(FAKE_UPSTREAM.githubReleases['containerd/containerd'].length / 3);
    expect(fake.requests.slice(before)).toEqual([
      '/api.github.com/repos/containerd/containerd/releases?per_page=100',
      ...Array.from({ length: pages - 1 }, (_, i) => `/api.github.com/repos/containerd/containerd/releases?per_page=100&page=${i + 2}`),
    ]);
  });

  test('includes pre-releases when asked, still never drafts', async () => {
    expect(versions(await listVersions(containerd, ctx, { includePrereleases: true }))).toEqual(['2.4.0-beta.0', '2.3.5', '2.3.4', '2.3.3', '2.2.10', '2.2.9', '1.7.30']);
  });

  test('keeps only the line asked for', async () => {
    expect(versions(await listVersions(containerd, ctx, { line: '2.2' }))).toEqual(['2.2.10', '2.2.9']);
  });

  test('sends GITHUB_TOKEN as a bearer token, and nothing without one', async () => {
    const before = fake.githubAuthorizations.length;
    await listVersions({ type: 'github-releases', repo: 'opencontainers/runc', tagPrefix: 'v' }, { ...ctx, githubToken: 'ghp_test' });
    await listVersions({ type: 'github-releases', repo: 'opencontainers/runc', tagPrefix: 'v' }, ctx);
    expect(fake.githubAuthorizations.slice(before)).toEqual(['Bearer ghp_test', 'Bearer ghp_test', undefined, undefined]);
  });

  test('an unknown repository fails naming the URL and the status', async () => {
    const error = await listVersions({ type: 'github-releases', repo: 'nobody/nothing', tagPrefix: 'v' }, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).message).toContain(`${fake.bases.githubApi}/repos/nobody/nothing/releases?per_page=100`);
    expect((error as UpstreamError).message).toContain('404');
  });
});

describe('kubernetes-stable', () => {
  test('reads stable-MAJOR.MINOR.txt for a line', async () => {
    expect(await listVersions({ type: 'kubernetes-stable' }, ctx, { line: '1.33' })).toEqual([
      { version: '1.33.6', source: `${fake.bases.k8s}/release/stable-1.33.txt` },
    ]);
  });

  test('reads stable.txt without a line', async () => {
    expect(versions(await listVersions({ type: 'kubernetes-stable' }, ctx))).toEqual(['1.34.2']);
  });

  test('a line upstream does not publish fails naming the URL', async () => {
    await expect(listVersions({ type: 'kubernetes-stable' }, ctx, { line: '1.99' })).rejects.toThrow(`${fake.bases.k8s}/release/stable-1.99.txt: HTTP 404`);
  });
});

describe('docker-static-index', () => {
  test('reads the docker-VERSION.tgz links of the listing, leaving out rootless extras and "17.03.0-ce", which semver reads as a pre-release', async () => {
    const found = await listVersions({ type: 'docker-static-index', channel: 'stable' }, ctx);
    expect(versions(found)).toEqual(['28.0.1', '28.0.0', '27.5.1']);
    expect(found[0]?.source).toBe(`${fake.bases.docker}/linux/static/stable/x86_64/`);
  });
});
