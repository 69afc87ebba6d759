import { describe, expect, it } from 'vitest';
import { parseReleaseIndex } from './release-index.js';

const sha = (c: string) => c.repeat(64);
const image = {
  extension: 'hello',
  version: '1.0.0',
  arch: 'x86-64',
  format: 'squashfs',
  path: 'hello/hello-1.0.0-x86-64.raw',
  sha256: sha('a'),
  bytes: 4096,
  compatibility: { id: 'flatcar', sysextLevel: '1.0' },
  requires: [],
  conflicts: { extensions: [], builtins: [] },
};
const index = (extra: object, images: object[] = [image]) =>
  JSON.stringify({
    indexVersion: 1,
    publicKeys: ['bakehouse.pub.asc'],
    ...extra,
    extensions: { hello: { description: '', requires: [], conflicts: { extensions: [], builtins: [] }, images, snippets: [] } },
  });

describe('parseReleaseIndex', () => {
  it('reads an index without verity certificates (written before signed DDIs)', () => {
    expect(parseReleaseIndex(index({}), 'index.json').verityCertificates).toBeUndefined();
  });

  it('reads signed DDIs and the certificates they name', () => {
    const ddi = { ...image, format: 'ddi', verity: { rootHash: sha('b'), certificateSha256: sha('c') } };
    const certificate = { path: 'bakehouse-verity-cccccccccccccccc.crt', sha256: sha('d'), certificateSha256: sha('c') };
    const parsed = parseReleaseIndex(index({ verityCertificates: [certificate] }, [ddi]), 'index.json');
    expect(parsed.verityCertificates).toEqual([certificate]);
    expect(parsed.extensions.hello!.images[0]!.verity).toEqual(ddi.verity);
  });

  it('names the field of a malformed certificate entry', () => {
    const text = index({ verityCertificates: [{ path: 'x.crt', sha256: 'nope', certificateSha256: sha('c') }] });
    expect(() => parseReleaseIndex(text, 'site/index.json')).toThrow(/site\/index\.json[\s\S]*verityCertificates\[0\]\.sha256: expected a sha256/);
  });
});
