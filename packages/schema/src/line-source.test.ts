import { describe, expect, test } from 'vitest';
import { ManifestError } from './errors.js';
import { parseLock, withLockedLines } from './lock.js';
import { parseExtension } from './define.js';

const base = { name: 'kube', description: 'kube for tests', homepage: 'https://example.org', upstream: { type: 'kubernetes-stable' } };
const image = (line: string, version: string) => ({ line, version, endOfLife: '2027-06-28', inputs: {} });

describe('lineSource: lines that the lock records', () => {
  const manifest = parseExtension({ ...base, lineSource: { type: 'kubernetes-schedule' } }, 'kube/extension.ts');

  test('a manifest names either lines or a line source', () => {
    expect(() => parseExtension({ ...base, lines: ['1.34'], lineSource: { type: 'kubernetes-schedule' } }, 'kube/extension.ts')).toThrow(ManifestError);
    expect(() => parseExtension({ ...base, lines: ['1.34'], lineSource: { type: 'kubernetes-schedule' } }, 'kube/extension.ts')).toThrow(/lineSource.*either "lines" or "lineSource"/s);
  });

  test("the lock's lines become the manifest's; the lock may retire lines with their end-of-life date", () => {
    const lock = parseLock({ lockVersion: 1, images: [image('1.35', '1.35.2'), image('1.34', '1.34.7')], retiredLines: [{ line: '1.33', endOfLife: '2026-06-28' }] }, 'extension.lock.json', manifest);
    expect(withLockedLines(manifest, lock).lines).toEqual(['1.35', '1.34']);
    expect(withLockedLines(manifest, undefined).lines).toBeUndefined();
  });

  test('every image of such a lock has a line, and end-of-life dates are dates', () => {
    expect(() => parseLock({ lockVersion: 1, images: [{ version: '1.35.2', inputs: {} }] }, 'extension.lock.json', manifest)).toThrow(/images\[0\]\.line.*lineSource decides them/s);
    expect(() => parseLock({ lockVersion: 1, images: [{ ...image('1.35', '1.35.2'), endOfLife: 'soon' }] }, 'extension.lock.json', manifest)).toThrow(/endOfLife/);
  });

  test('a manifest with its own lines is left as it is', () => {
    const listed = parseExtension({ ...base, lines: ['1.35'] }, 'kube/extension.ts');
    expect(withLockedLines(listed, { lockVersion: 1, images: [image('1.35', '1.35.2')] })).toBe(listed);
  });
});
