import { describe, expect, it } from 'vitest';
import { defaultCacheDir, rootKey, rootPath, RootSpecError, type RootSpec } from './spec.js';

const base: RootSpec = { name: 'testbed', suite: 'trixie', packages: ['systemd', 'dbus'] };

describe('rootKey', () => {
  it('ignores package order, duplicates, the name and the cache dir', () => {
    const key = rootKey(base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(rootKey({ ...base, packages: ['dbus', 'systemd', 'dbus'] })).toBe(key);
    expect(rootKey({ ...base, name: 'other', cacheDir: '/elsewhere' })).toBe(key);
  });

  it('changes with every input that decides the content', () => {
    const keys = new Set([
      rootKey(base),
      rootKey({ ...base, suite: 'bookworm' }),
      rootKey({ ...base, packages: ['systemd'] }),
      rootKey({ ...base, mirror: 'http://127.0.0.1:8080/debian' }),
      rootKey({ ...base, customize: 'echo hi > "$1/etc/hi"' }),
      rootKey({ ...base, customize: 'echo ho > "$1/etc/hi"' }),
    ]);
    expect(keys.size).toBe(6);
  });

  it('treats the default mirror and no mirror alike', () => {
    expect(rootKey({ ...base, mirror: 'http://deb.debian.org/debian' })).toBe(rootKey(base));
  });
});

describe('rootPath', () => {
  it('is CACHE/roots/NAME-KEY', () => {
    expect(rootPath({ ...base, cacheDir: '/c' })).toBe(`/c/roots/testbed-${rootKey(base)}`);
  });
});

describe('bad specs', () => {
  it.each([
    [{ ...base, name: 'Bad Name' }, /"name"/],
    [{ ...base, suite: '' }, /"suite".*trixie/],
    [{ ...base, packages: [] }, /"packages".*at least one/],
    [{ ...base, packages: ['systemd', 'rm -rf /'] }, /"packages": "rm -rf \/" is not a Debian package name/],
    [{ ...base, mirror: 'deb.debian.org' }, /"mirror".*http/],
  ])('refuses %j naming the field', (spec, message) => {
    expect(() => rootKey(spec)).toThrow(RootSpecError);
    expect(() => rootKey(spec)).toThrow(message);
  });
});

describe('defaultCacheDir', () => {
  it('follows BAKEHOUSE_CACHE_DIR, then an absolute XDG_CACHE_HOME, then HOME', () => {
    expect(defaultCacheDir({ BAKEHOUSE_CACHE_DIR: '/srv/c', XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/srv/c');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/x/bakehouse');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'rel', HOME: '/h' })).toBe('/h/.cache/bakehouse');
  });
});
