import { describe, expect, test } from 'vitest';
import { DEFAULT_BASES, resolveBases, rewriteUrl } from './bases.js';
import { UpstreamSettingError } from './errors.js';

describe('resolveBases', () => {
  test('defaults to the real sites', () => {
    expect(resolveBases({}, [])).toEqual(DEFAULT_BASES);
  });

  test('BAKEHOUSE_UPSTREAM_* override the defaults, and --upstream flags override both', () => {
    const bases = resolveBases(
      { BAKEHOUSE_UPSTREAM_GITHUB: 'http://mirror/gh/', BAKEHOUSE_UPSTREAM_K8S: 'http://mirror/k8s', BAKEHOUSE_UPSTREAM_GITHUB_API: 'http://env-api' },
      ['github-api=http://flag-api', 'docker=https://docker.mirror'],
    );
    expect(bases).toEqual({ github: 'http://mirror/gh', githubApi: 'http://flag-api', k8s: 'http://mirror/k8s', docker: 'https://docker.mirror', githubRaw: DEFAULT_BASES.githubRaw, hashicorp: DEFAULT_BASES.hashicorp, tailscale: DEFAULT_BASES.tailscale });
    expect(resolveBases({ BAKEHOUSE_UPSTREAM_GITHUB_RAW: 'http://env-raw' }, []).githubRaw).toBe('http://env-raw');
    expect(resolveBases({ BAKEHOUSE_UPSTREAM_GITHUB_RAW: 'http://env-raw' }, ['github-raw=http://flag-raw/']).githubRaw).toBe('http://flag-raw');
    expect(resolveBases({ BAKEHOUSE_UPSTREAM_HASHICORP: 'http://env-hc/' }).hashicorp).toBe('http://env-hc');
    expect(rewriteUrl('https://releases.hashicorp.com/consul/2.0.2/consul_2.0.2_SHA256SUMS', resolveBases({}, ['hashicorp=http://127.0.0.1:9/hc']))).toBe('http://127.0.0.1:9/hc/consul/2.0.2/consul_2.0.2_SHA256SUMS');
  });

  test.each([['gitlab=http://x'], ['github'], ['github=ftp://x']])('refuses --upstream %s, naming the valid names', (flag) => {
    expect(() => resolveBases({}, [flag])).toThrow(UpstreamSettingError);
    expect(() => resolveBases({}, [flag])).toThrow(/--upstream/);
  });

  test('refuses an environment value that is not a URL, naming the variable', () => {
    expect(() => resolveBases({ BAKEHOUSE_UPSTREAM_DOCKER: 'download.docker.com' })).toThrow(/BAKEHOUSE_UPSTREAM_DOCKER/);
  });
});

describe('rewriteUrl', () => {
  const bases = { github: 'http://127.0.0.1:9/github.com', githubApi: 'http://127.0.0.1:9/api', k8s: 'http://127.0.0.1:9/k8s', docker: DEFAULT_BASES.docker, githubRaw: 'http://127.0.0.1:9/raw', hashicorp: DEFAULT_BASES.hashicorp, tailscale: DEFAULT_BASES.tailscale };

  test('moves a URL under a default base to the configured one', () => {
    expect(rewriteUrl('https://github.com/containerd/containerd/releases/download/v2.3.5/x.tar.gz', bases)).toBe(
      'http://127.0.0.1:9/github.com/containerd/containerd/releases/download/v2.3.5/x.tar.gz',
    );
    expect(rewriteUrl('https://api.github.com/repos/a/b/releases?page=2', bases)).toBe('http://127.0.0.1:9/api/repos/a/b/releases?page=2');
    expect(rewriteUrl('https://dl.k8s.io/release/stable.txt', bases)).toBe('http://127.0.0.1:9/k8s/release/stable.txt');
  });

  test('leaves other URLs alone, including look-alike hosts', () => {
    for (const url of ['https://download.docker.com/linux/static/stable/x86_64/', 'https://example.org/x', 'https://github.com.evil.example/x'])
      expect(rewriteUrl(url, bases)).toBe(url);
  });
});
