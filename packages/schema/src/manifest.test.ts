import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError, extensionJsonSchema, parseExtension, parseSourceOverrides, type ExtensionInput } from './index.js';

const SHA = 'a'.repeat(64);

function valid(): ExtensionInput {
  return {
    name: 'demo',
    description: 'demo extension',
    homepage: 'https://example.org',
    version: '1.2.3',
    arch: ['x86-64', 'arm64'],
    inputs: [
      {
        name: 'demo',
        kind: 'tar.gz',
        url: 'https://example.org/demo-{version}-{goarch}.tar.gz',
        sha256: { 'x86-64': SHA, arm64: SHA },
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

  it('names the field path of a bad sha256 and says what was expected', () => {
    const data = valid();
    data.inputs![0]!.sha256 = { 'x86-64': SHA, arm64: 'not-a-hash' };
    expect(problemsOf(data)).toEqual([{ field: 'inputs[0].sha256.arm64', expected: 'a sha256 as 64 lowercase hex characters' }]);
  });

  it('requires a pin and URL for every listed arch', () => {
    const data = valid();
    data.inputs![0]!.sha256 = { 'x86-64': SHA };
    data.inputs![0]!.url = { 'x86-64': 'https://example.org/x' };
    const fields = problemsOf(data).map((p) => p.field);
    expect(fields).toEqual(['inputs[0].sha256.arm64', 'inputs[0].url.arm64']);
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

  it('rejects a "v" prefixed version', () => {
    expect(problemsOf({ ...valid(), version: 'v1.2.3' })[0]?.field).toBe('version');
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

describe('source overrides', () => {
  it('names the bad entry', () => {
    expect(() => parseSourceOverrides({ demo: { demo: { 'x86-64': { url: 'ftp://x', sha256: SHA } } } }, 'over.json')).toThrow(
      /over\.json[\s\S]*demo\.demo\.x86-64\.url: expected an http\(s\) URL/,
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
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['name', 'inputs', 'units', 'enable', 'release', 'conflicts', 'smoke']));
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'description', 'homepage', 'version']));
    expect(schema.required).not.toContain('format');
  });
});
