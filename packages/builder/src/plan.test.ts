import { describe, expect, it } from 'vitest';
import { parseExtension, type ExtensionInput, type LockedImage } from '@bakehouse/schema';
import { expandUrl, PlanError, resolvePlan } from './plan.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

function manifest(overrides: Partial<ExtensionInput> = {}) {
  return parseExtension(
    {
      name: 'demo',
      description: 'demo',
      homepage: 'https://example.org',
      inputs: [
        {
          name: 'demo',
          kind: 'tar.gz',
          url: 'https://example.org/v{version}/demo-{version}-linux-{goarch}.tar.gz',
          extract: [{ from: 'bin/', to: '/usr/bin/' }],
        },
        {
          name: 'helper',
          kind: 'file',
          url: { 'x86-64': 'https://example.org/helper-{uname}-{version}', arm64: 'https://mirror.example.org/helper-{uname}-{version}' },
          extract: [{ to: '/usr/bin/helper', mode: 0o755 }],
        },
      ],
      enable: ['demo.service', 'demo.socket', { unit: 'demo-clean.timer', target: 'basic.target' }],
      ...overrides,
    },
    'demo/extension.ts',
  );
}

const IMAGE: LockedImage = {
  version: '1.2.3',
  inputs: {
    demo: { version: '1.2.3', sha256: { 'x86-64': SHA_A, arm64: SHA_B }, checksum: 'upstream' },
    helper: { version: '0.9', sha256: { 'x86-64': SHA_A, arm64: SHA_B }, checksum: 'computed' },
  },
};

describe('resolvePlan', () => {
  it('resolves URLs, pins and names for the requested arch', () => {
    const plan = resolvePlan(manifest(), IMAGE, { extensionDir: '/ext/demo', arch: 'arm64' });
    expect(plan.imageName).toBe('demo-1.2.3-arm64');
    expect(plan.filesDir).toBe('/ext/demo/files');
    expect(plan.inputs.map(({ name, url, sha256, version, pinnedBy }) => ({ name, url, sha256, version, pinnedBy }))).toEqual([
      { name: 'demo', url: 'https://example.org/v1.2.3/demo-1.2.3-linux-arm64.tar.gz', sha256: SHA_B, version: '1.2.3', pinnedBy: 'lock' },
      { name: 'helper', url: 'https://mirror.example.org/helper-aarch64-0.9', sha256: SHA_B, version: '0.9', pinnedBy: 'lock' },
    ]);
  });

  it('derives the upholding target from the unit type unless one is given', () => {
    const plan = resolvePlan(manifest(), IMAGE, { extensionDir: '/ext/demo', arch: 'x86-64' });
    expect(plan.upholds).toEqual([
      { unit: 'demo.service', target: 'multi-user.target', path: '/usr/lib/systemd/system/multi-user.target.d/10-demo-demo.service.conf' },
      { unit: 'demo.socket', target: 'sockets.target', path: '/usr/lib/systemd/system/sockets.target.d/10-demo-demo.socket.conf' },
      { unit: 'demo-clean.timer', target: 'basic.target', path: '/usr/lib/systemd/system/basic.target.d/10-demo-demo-clean.timer.conf' },
    ]);
  });

  it('writes SYSEXT_LEVEL for level compatibility and always ARCHITECTURE', () => {
    const plan = resolvePlan(manifest({ release: { reloadManager: true, scope: ['system', 'portable'] } }), IMAGE, { extensionDir: '/e', arch: 'x86-64' });
    expect(plan.extensionRelease).toEqual([
      ['ID', 'flatcar'],
      ['SYSEXT_LEVEL', '1.0'],
      ['ARCHITECTURE', 'x86-64'],
      ['EXTENSION_RELOAD_MANAGER', '1'],
      ['SYSEXT_SCOPE', 'system portable'],
    ]);
  });

  it('pins VERSION_ID for release compatibility and demands a target release', () => {
    const m = manifest({ release: { compat: 'release' } });
    expect(() => resolvePlan(m, IMAGE, { extensionDir: '/e', arch: 'x86-64' })).toThrow(/--flatcar-version/);
    const plan = resolvePlan(m, IMAGE, { extensionDir: '/e', arch: 'x86-64', flatcarVersion: '4230.2.1' });
    expect(plan.extensionRelease).toContainEqual(['VERSION_ID', '4230.2.1']);
    expect(plan.extensionRelease.map(([k]) => k)).not.toContain('SYSEXT_LEVEL');
  });

  it('writes neither level nor release for ID=_any', () => {
    const plan = resolvePlan(manifest({ release: { id: '_any', compat: 'release' } }), IMAGE, { extensionDir: '/e', arch: 'arm64' });
    expect(plan.extensionRelease).toEqual([
      ['ID', '_any'],
      ['ARCHITECTURE', 'arm64'],
    ]);
  });

  it('applies source overrides to the exact upstream URL, and says so', () => {
    const sources = { 'https://example.org/v1.2.3/demo-1.2.3-linux-amd64.tar.gz': { url: 'http://127.0.0.1:1/demo.tgz', sha256: SHA_B } };
    const plan = resolvePlan(manifest(), IMAGE, { extensionDir: '/e', arch: 'x86-64', sources });
    expect(plan.inputs[0]).toMatchObject({ url: 'http://127.0.0.1:1/demo.tgz', sha256: SHA_B, pinnedBy: 'override' });
    expect(plan.inputs[1]).toMatchObject({ pinnedBy: 'lock' });
    expect(resolvePlan(manifest(), IMAGE, { extensionDir: '/e', arch: 'arm64', sources }).inputs[0]).toMatchObject({ pinnedBy: 'lock' });
  });

  it('marks an override build in its extension-release, and treats an override that keeps the pin as a mirror', () => {
    const url = 'https://example.org/v1.2.3/demo-1.2.3-linux-amd64.tar.gz';
    const overridden = resolvePlan(manifest(), IMAGE, { extensionDir: '/e', arch: 'x86-64', sources: { [url]: { url: 'http://127.0.0.1:1/demo.tgz', sha256: SHA_B } } });
    expect(overridden.extensionRelease.at(-1)).toEqual(['BAKEHOUSE_SOURCE_OVERRIDES', 'demo']);
    const mirrored = resolvePlan(manifest(), IMAGE, { extensionDir: '/e', arch: 'x86-64', sources: { [url]: { url: 'http://mirror.local/demo.tgz', sha256: IMAGE.inputs.demo!.sha256['x86-64']! } } });
    expect(mirrored.inputs[0]).toMatchObject({ url: 'http://mirror.local/demo.tgz', pinnedBy: 'lock' });
    expect(mirrored.extensionRelease).toEqual(resolvePlan(manifest(), IMAGE, { extensionDir: '/e', arch: 'x86-64' }).extensionRelease);
  });

  it('names the line and version of a locked image, and fails on an input the lock lacks', () => {
    const plan = resolvePlan(manifest(), { ...IMAGE, line: '1.2' }, { extensionDir: '/e', arch: 'x86-64' });
    expect([plan.line, plan.imageName]).toEqual(['1.2', 'demo-1.2.3-x86-64']);
    expect(() => resolvePlan(manifest(), { ...IMAGE, inputs: {} }, { extensionDir: '/e', arch: 'x86-64' })).toThrow(/bakehouse bump demo/);
  });

  it('refuses an arch the manifest does not support', () => {
    expect(() => resolvePlan(manifest({ arch: ['x86-64'] }), IMAGE, { extensionDir: '/e', arch: 'arm64' })).toThrow(PlanError);
  });

  it('takes the format from the options over the manifest', () => {
    expect(resolvePlan(manifest(), IMAGE, { extensionDir: '/e', arch: 'arm64' }).format).toBe('squashfs');
    expect(resolvePlan(manifest(), IMAGE, { extensionDir: '/e', arch: 'arm64', format: 'erofs' }).format).toBe('erofs');
  });
});

describe('expandUrl', () => {
  it('fails on an unknown placeholder', () => {
    expect(() => expandUrl('https://x/{os}/{version}', '1', 'x86-64')).toThrow(/\{os\}/);
  });
});
