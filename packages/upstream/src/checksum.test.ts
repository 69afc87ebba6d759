import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { startFakeUpstreamApi, type FakeUpstreamApi } from '@bakehouse/fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hashInFile, hashInSha256Sums, resolveChecksum } from './checksum.js';
import type { UpstreamContext } from './context.js';
import { UpstreamError } from './errors.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('hashInFile', () => {
  test('takes the one sha256, alone or in sha256sum format, in any case', () => {
    expect(hashInFile(`${A}\n`, 'u')).toBe(A);
    expect(hashInFile(`${A.toUpperCase()}  containerd.tar.gz\n`, 'u')).toBe(A);
  });

  test('refuses a file with none, or with several', () => {
    expect(() => hashInFile('<html>not found</html>', 'http://x/f.sha256')).toThrow('http://x/f.sha256 holds no sha256');
    expect(() => hashInFile(`${A}  a\n${B}  b\n`, 'u')).toThrow(/2 different sha256s.*sha256sums/);
  });
});

describe('hashInSha256Sums', () => {
  const list = `${A}  runc.amd64\n${B} *runc.arm64\r\n${'c'.repeat(64)}  runc.amd64.asc\n`;

  test('takes the line naming the file exactly, text or binary mode', () => {
    expect(hashInSha256Sums(list, 'runc.amd64', 'u')).toBe(A);
    expect(hashInSha256Sums(list, 'runc.arm64', 'u')).toBe(B);
  });

  test('a file the list does not name is an error naming list and file', () => {
    const lookUp = () => hashInSha256Sums(list, 'runc.riscv64', 'http://x/runc.sha256sum');
    expect(lookUp).toThrow(UpstreamError);
    expect(lookUp).toThrow('http://x/runc.sha256sum lists no sha256 for runc.riscv64');
  });
});

describe('resolveChecksum against the fake upstream', () => {
  let fake: FakeUpstreamApi;
  let ctx: UpstreamContext;
  let cacheDir: string;

  beforeAll(async () => {
    fake = await startFakeUpstreamApi();
    ctx = { bases: fake.bases, http: { retries: 0 } };
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-checksum-'));
  });
  afterAll(async () => {
    await fake.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  test('"file": expands {url} against the real URL and reads the hash from the configured site', async () => {
    const url = 'https://github.com/containerd/containerd/releases/download/v2.3.5/containerd-static-2.3.5-linux-arm64.tar.gz';
    const before = fake.requests.length;
    const resolved = await resolveChecksum({ from: 'file', url: '{url}.sha256sum' }, { input: 'containerd', url, version: '2.3.5', arch: 'arm64' }, ctx, { cacheDir });
    expect(resolved).toEqual({ sha256: fake.sha256(url), checksum: 'upstream' });
    expect(fake.requests.slice(before)).toEqual(['/github.com/containerd/containerd/releases/download/v2.3.5/containerd-static-2.3.5-linux-arm64.tar.gz.sha256sum']);
  });

  test('"sha256sums": takes the line of the download\'s file name', async () => {
    const url = 'https://github.com/opencontainers/runc/releases/download/v1.4.4/runc.arm64';
    const checksum = { from: 'sha256sums', url: 'https://github.com/opencontainers/runc/releases/download/v{version}/runc.sha256sum' } as const;
    const resolved = await resolveChecksum(checksum, { input: 'runc', url, version: '1.4.4', arch: 'arm64' }, ctx, { cacheDir });
    expect(resolved).toEqual({ sha256: fake.sha256(url), checksum: 'upstream' });
  });

  test('"download": hashes the file itself, leaving it in the cache', async () => {
    const url = 'https://download.docker.com/linux/static/stable/aarch64/docker-28.0.1.tgz';
    const resolved = await resolveChecksum({ from: 'download' }, { input: 'docker', url, version: '28.0.1', arch: 'arm64' }, ctx, { cacheDir });
    expect(resolved).toEqual({ sha256: fake.sha256(url), checksum: 'computed' });
    const cached = await readFile(path.join(cacheDir, 'sha256', resolved.sha256));
    expect(createHash('sha256').update(cached).digest('hex')).toBe(resolved.sha256);
  });

  test('a missing checksum file fails naming its URL and status', async () => {
    const url = 'https://github.com/containerd/containerd/releases/download/v9.9.9/containerd-static-9.9.9-linux-amd64.tar.gz';
    await expect(resolveChecksum({ from: 'file', url: '{url}.sha256sum' }, { input: 'containerd', url, version: '9.9.9', arch: 'x86-64' }, ctx, { cacheDir })).rejects.toThrow(
      `${fake.bases.github}/containerd/containerd/releases/download/v9.9.9/containerd-static-9.9.9-linux-amd64.tar.gz.sha256sum: HTTP 404`,
    );
  });
});
