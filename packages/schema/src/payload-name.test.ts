import { describe, expect, it } from 'vitest';
import { ManifestError, parseExtension } from './index.js';

const base = { description: 'demo', homepage: 'https://example.org' };

describe('extensions named like Flatcar update payloads', () => {
  it('must be release-pinned with id flatcar: Flatcar installs flatcar-NAME and oem-ID for one OS version', () => {
    for (const name of ['flatcar-demo', 'oem-demo']) {
      expect(() => parseExtension({ ...base, name }, `extensions/${name}/extension.ts`)).toThrow(ManifestError);
      expect(() => parseExtension({ ...base, name }, `extensions/${name}/extension.ts`)).toThrow(/release\.compat.*"release" with id "flatcar"/s);
      expect(() => parseExtension({ ...base, name, release: { id: '_any', compat: 'release' } }, 'x')).toThrow(/"release" with id "flatcar"/);
      expect(parseExtension({ ...base, name, release: { compat: 'release' } }, 'x').release.compat).toBe('release');
    }
  });

  it('leaves other names alone', () => {
    expect(parseExtension({ ...base, name: 'podman' }, 'x').release.compat).toBe('level');
    expect(parseExtension({ ...base, name: 'flatcarish' }, 'x').release.compat).toBe('level');
  });
});
