import { describe, expect, it } from 'vitest';
import { parseExtension, type ExtensionInput } from '@bakehouse/schema';
import { lintWorkspace } from './workspace-lint.js';

function ext(name: string, extra: Partial<ExtensionInput> = {}) {
  return parseExtension({ name, description: name, homepage: 'https://example.org', ...extra }, `${name}.ts`);
}

const paths = (entries: Record<string, string[]>) => new Map(Object.entries(entries).map(([k, v]) => [k, new Set(v)]));

describe('lintWorkspace', () => {
  it('accepts a consistent set', () => {
    const set = [
      ext('containerd', { conflicts: { builtins: ['containerd-flatcar'] } }),
      ext('docker', { conflicts: { extensions: ['containerd'], builtins: ['docker-flatcar'] } }),
      ext('kubernetes', { requires: [{ anyOf: ['containerd', 'containerd-flatcar'] }] }),
    ];
    const footprints = paths({ containerd: ['/usr/bin/containerd'], docker: ['/usr/bin/containerd', '/usr/bin/dockerd'], kubernetes: ['/usr/bin/kubelet'] });
    expect(lintWorkspace(set, footprints)).toEqual([]);
  });

  it('fails when two mergeable extensions ship the same path, naming both and the path', () => {
    const problems = lintWorkspace([ext('containerd'), ext('docker')], paths({ containerd: ['/usr/bin/containerd', '/usr/bin/ctr'], docker: ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/dockerd'] }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ extension: 'containerd', field: 'conflicts.extensions' });
    expect(problems[0]?.message).toContain('/usr/bin/containerd, /usr/bin/ctr like "docker"');
  });

  it('accepts the overlap once either side declares the conflict', () => {
    const footprints = paths({ a: ['/usr/bin/x'], b: ['/usr/bin/x'] });
    expect(lintWorkspace([ext('a'), ext('b', { conflicts: { extensions: ['a'] } })], footprints)).toEqual([]);
  });

  it('names unknown extensions in requires and conflicts', () => {
    const problems = lintWorkspace([ext('a', { requires: ['nope'], conflicts: { extensions: ['gone'] } })]);
    expect(problems.map((p) => p.field)).toEqual(['requires[0]', 'conflicts.extensions[0]']);
  });

  it('fails a requirement set that includes declared conflicts, or an anyOf nothing can satisfy', () => {
    const problems = lintWorkspace([
      ext('docker', { conflicts: { extensions: ['containerd'] } }),
      ext('containerd'),
      ext('stack', { requires: ['docker', 'containerd'] }),
      ext('picky', { requires: [{ anyOf: ['containerd', 'containerd-flatcar'] }], conflicts: { extensions: ['containerd'], builtins: ['containerd-flatcar'] } }),
    ]);
    expect(problems.map((p) => [p.extension, p.field])).toEqual([
      ['stack', 'requires'],
      ['picky', 'requires[0]'],
    ]);
  });
});
