import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError, extensionJsonSchema, parseExtension, parseLock, parseSourceOverrides, type ExtensionInput } from './index.js';

const SHA = 'a'.repeat(64);

function valid(): ExtensionInput {
  return {
    name: 'demo',
    description: 'demo extension',
    homepage: 'https://example.org',
    upstream: { type: 'github-releases', repo: 'example/demo' },
    arch: ['x86-64', 'arm64'],
    inputs: [
      {
        name: 'demo',
        kind: 'tar.gz',
        url: 'https://example.org/demo-{version}-{goarch}.tar.gz',
        checksum: { from: 'file', url: '{url}.sha256' },
        extract: [{ from: 'bin/demo', to: '/usr/bin/demo' }],
      },
    ],
  };
}

function problemsOf(data: unknown): { field: string; expected: string }[] {
  try {
    parseExtension(data, 'extensions/demo/extension.ts');
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as ManifestError).message).toContain('extensions/demo/extension.ts');
    return (error as ManifestError).problems;
  }
  throw new Error('expected the manifest to be rejected');
}

describe('parseExtension', () => {
  it('fills in defaults for a minimal manifest', () => {
    const m = parseExtension(valid(), 'x.ts');
    expect(m.format).toBe('squashfs');
    expect(m.release).toEqual({ id: 'flatcar', compat: 'level', reloadManager: false });
    expect(m.conflicts).toEqual({ extensions: [], builtins: [] });
    expect(m.files).toBe('files');
  });

  it('names the field path of a bad checksum source and says what was expected', () => {
    const data = valid();
    data.inputs![0]!.checksum = { from: 'file', url: 'ftp://example.org/x.sha256' };
    expect(problemsOf(data)).toEqual([{ field: 'inputs[0].checksum.url', expected: expect.stringContaining('an http(s) URL, or "{url}" plus a suffix') }]);
  });

  it('requires a URL for every listed arch', () => {
    const data = valid();
    data.inputs![0]!.url = { 'x86-64': 'https://example.org/x' };
    expect(problemsOf(data).map((p) => p.field)).toEqual(['inputs[0].url.arm64']);
  });

  it('names a bad version source', () => {
    expect(problemsOf({ ...valid(), upstream: { type: 'github-releases', repo: 'no-slash' } })[0]?.field).toBe('upstream.repo');
    expect(problemsOf({ ...valid(), lines: ['1.34.2'] })[0]).toEqual({ field: 'lines[0]', expected: 'a MAJOR.MINOR line such as "1.34"' });
  });

  it('refuses image paths outside /usr and /opt', () => {
    const data = valid();
    data.inputs![0]!.extract = [{ from: 'bin/demo', to: '/etc/demo' }];
    const [problem] = problemsOf(data);
    expect(problem?.field).toBe('inputs[0].extract[0].to');
    expect(problem?.expected).toMatch(/under \/usr\/ or \/opt\//);
  });

  it('refuses archive paths that climb out', () => {
    const data = valid();
    data.inputs![0]!.extract = [{ from: '../bin/demo', to: '/usr/bin/demo' }];
    expect(problemsOf(data)[0]?.field).toBe('inputs[0].extract[0].from');
  });

  it('names unknown fields so typos are caught', () => {
    const problems = problemsOf({ ...valid(), conflict: ['docker'] });
    expect(problems[0]?.field).toBe('(manifest)');
    expect(problems[0]?.expected).toContain('"conflict"');
  });

  it('reports a missing required field by name', () => {
    const { description: _, ...rest } = valid();
    expect(problemsOf(rest)).toEqual([{ field: 'description', expected: 'a value (required string is missing)' }]);
  });

  it('rejects arch spellings systemd does not use', () => {
    const problems = problemsOf({ ...valid(), arch: ['amd64'] });
    expect(problems[0]?.field).toBe('arch[0]');
    expect(problems[0]?.expected).toContain('"x86-64"');
  });


  it('checks kind-specific extract rules', () => {
    const data = valid();
    data.inputs![0]!.kind = 'file';
    expect(problemsOf(data).map((p) => p.field)).toEqual(['inputs[0].extract[0].from']);
  });

  it('rejects requiring an extension that is also a conflict, and duplicate input names', () => {
    const data = { ...valid(), requires: ['docker'], conflicts: { extensions: ['docker'] } };
    data.inputs = [data.inputs![0]!, data.inputs![0]!];
    expect(problemsOf(data).map((p) => p.field).sort()).toEqual(['inputs[1].name', 'requires[0]']);
  });

  it('rejects built-in conflicts that are not Flatcar image names', () => {
    expect(problemsOf({ ...valid(), conflicts: { builtins: ['containerd'] } })[0]?.field).toBe('conflicts.builtins[0]');
  });
});

describe('parseLock', () => {
  const manifest = () => parseExtension({ ...valid(), lines: ['1.34', '1.33'] }, 'demo.ts');
  const image = (line: string, version: string) => ({
    line,
    version,
    inputs: { demo: { version, sha256: { 'x86-64': SHA, arm64: SHA }, checksum: 'upstream' } },
  });

  it('accepts one image per line with every input pinned for every arch', () => {
    const lock = parseLock({ lockVersion: 1, images: [image('1.34', '1.34.2'), image('1.33', '1.33.6')] }, 'demo.lock.json', manifest());
    expect(lock.images.map((i) => i.version)).toEqual(['1.34.2', '1.33.6']);
  });

  it('names the lock file and every field at fault', () => {
    const bad = image('1.34', '1.35.0');
    delete (bad.inputs.demo.sha256 as Record<string, string>).arm64;
    try {
      parseLock({ lockVersion: 1, images: [bad] }, 'extensions/demo/extension.lock.json', manifest());
      expect.unreachable();
    } catch (error) {
      expect((error as ManifestError).message).toContain('extensions/demo/extension.lock.json');
      expect((error as ManifestError).problems.map((p) => p.field)).toEqual(['images', 'images[0].version', 'images[0].inputs.demo.sha256.arm64']);
    }
  });

  it('rejects a malformed pin with its path', () => {
    const bad = image('1.34', '1.34.2');
    bad.inputs.demo.sha256['x86-64'] = 'nope';
    expect(() => parseLock({ lockVersion: 1, images: [bad] }, 'l.json', manifest())).toThrow(/images\[0\]\.inputs\.demo\.sha256\.x86-64: expected a sha256/);
  });
});

describe('source overrides', () => {
  it('maps upstream URLs to replacements and names a bad entry', () => {
    const good = { 'https://example.org/demo.tar.gz': { url: 'http://127.0.0.1:8080/demo.tar.gz', sha256: SHA } };
    expect(parseSourceOverrides(good, 'over.json')).toEqual(good);
    expect(() => parseSourceOverrides({ 'https://example.org/x': { url: 'ftp://x', sha256: SHA } }, 'over.json')).toThrow(
      /over\.json[\s\S]*https:\/\/example\.org\/x\.url: expected an http\(s\) URL/,
    );
  });
});

describe('JSON Schema', () => {
  it('is committed up to date with the zod schema', () => {
    const committed = JSON.parse(readFileSync(new URL('../extension.schema.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(extensionJsonSchema());
  });

  it('describes the manifest fields for editors', () => {
    const schema = extensionJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['name', 'upstream', 'lines', 'inputs', 'units', 'enable', 'release', 'conflicts', 'smoke']));
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'description', 'homepage']));
    expect(schema.required).not.toContain('format');
  });
});
