import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@bakehouse/fixtures';
import { extensionReleases, parsePolicy } from './policy.js';

describe('release.yaml', () => {
  it("the repository's policy parses, with defaults applied per extension", async () => {
    const policy = parsePolicy(await readFile(path.join(REPO_ROOT, 'release.yaml'), 'utf8'), 'release.yaml');
    const releases = extensionReleases(policy);
    expect(releases.find((r) => r.name === 'containerd')).toEqual({ name: 'containerd', track: 'latest', arch: ['x86-64', 'arm64'], channels: policy.flatcar.channels });
    expect(releases.find((r) => r.name === 'oem-hyperv')).toMatchObject({ track: 'pinned', channels: ['stable'] });
  });

  it.each([
    ['an unknown arch', 'flatcar: { channels: [stable] }\npublish: { out: out }\nextensions: { containerd: { arch: [amd64] } }', 'extensions.containerd.arch'],
    ['a channel the policy does not resolve', 'flatcar: { channels: [stable] }\npublish: { out: out }\nextensions: { containerd: { channels: [beta] } }', 'extensions.containerd.channels'],
    ['a misspelt field', 'flatcar: { channels: [stable] }\npublish: { out: out }\nextensions: { containerd: { trak: latest } }', 'extensions.containerd'],
    ['no publish target', 'flatcar: { channels: [stable] }\nextensions: {}', 'publish'],
    ['broken YAML', 'flatcar: [', '(file)'],
  ])('names the file and field for %s', (_, text, field) => {
    expect(() => parsePolicy(text, 'release.yaml')).toThrow(new RegExp(`^release\\.yaml: invalid release policy\\n  - ${field.replace(/[.()[\]]/g, '\\$&')}`));
  });
});
