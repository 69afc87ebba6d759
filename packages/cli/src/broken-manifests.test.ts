/**
 * Broken manifests and locks, loaded through the real loader (jiti importing extension.ts,
 * package.json and the lock from disk): every error names the file and the field at fault.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExtension } from './workspace.js';

const SHA = 'a'.repeat(64);

/** A manifest that loads; each case breaks one thing in a copy. */
function validManifest(): Record<string, unknown> {
  return {
    name: 'demo',
    description: 'demo',
    homepage: 'https://example.org',
    arch: ['x86-64'],
    inputs: [{ name: 'tool', kind: 'tar.gz', url: 'https://example.org/tool-{version}.tar.gz', extract: [{ from: 'bin/tool', to: '/usr/bin/tool' }] }],
    units: { 'demo.service': { Service: { ExecStart: '/usr/bin/tool' } } },
    enable: ['demo.service'],
  };
}

function validLock(): Record<string, unknown> {
  return { lockVersion: 1, images: [{ version: '1.0.0', inputs: { tool: { version: '1.0.0', sha256: { 'x86-64': SHA }, checksum: 'upstream' } } }] };
}

type Patch = (m: Record<string, unknown>) => void;
const input = (m: Record<string, unknown>) => (m.inputs as Record<string, unknown>[])[0] as Record<string, unknown>;
const rule = (m: Record<string, unknown>) => (input(m).extract as Record<string, unknown>[])[0] as Record<string, unknown>;

const image0 = (l: Record<string, unknown>) => (l.images as Record<string, unknown>[])[0] as Record<string, unknown>;
const toolPin = (l: Record<string, unknown>) => (image0(l).inputs as Record<string, Record<string, unknown>>).tool as Record<string, unknown>;

interface Case {
  title: string;
  manifest?: Patch;
  lock?: (l: Record<string, unknown>) => void;
  /** The field named in the error, as the manifest spells its path. */
  field: string;
  /** Part of what the error says is expected. */
  hint: string;
  /** The file the error names; the manifest unless stated. */
  file?: 'extension.ts' | 'extension.lock.json';
}

const CASES: Case[] = [
  { title: 'a name with capitals', manifest: (m) => (m.name = 'Demo'), field: 'name', hint: 'lowercase letters' },
  { title: 'a missing description', manifest: (m) => delete m.description, field: 'description', hint: 'required' },
  { title: 'a homepage that is no URL', manifest: (m) => (m.homepage = 'example.org'), field: 'homepage', hint: 'a URL' },
  { title: 'an arch in Go spelling', manifest: (m) => (m.arch = ['amd64']), field: 'arch[0]', hint: 'x86-64' },
  { title: 'an unknown image format', manifest: (m) => (m.format = 'ext4'), field: 'format', hint: 'squashfs' },
  { title: 'an unknown field', manifest: (m) => (m.colour = 'blue'), field: '(manifest)', hint: 'remove "colour"' },
  { title: 'an unknown input kind', manifest: (m) => (input(m).kind = 'rar'), field: 'inputs[0].kind', hint: 'tar.gz' },
  { title: 'an input URL that is not http(s)', manifest: (m) => (input(m).url = 'ftp://example.org/x'), field: 'inputs[0].url', hint: 'http(s) URL' },
  { title: 'an input without extract rules', manifest: (m) => (input(m).extract = []), field: 'inputs[0].extract', hint: 'at least one mapping' },
  { title: 'an input name with a space', manifest: (m) => (input(m).name = 'my tool'), field: 'inputs[0].name', hint: 'lowercase letters' },
  { title: 'a checksum file without URL', manifest: (m) => (input(m).checksum = { from: 'file' }), field: 'inputs[0].checksum.url', hint: 'required' },
  { title: 'an unknown checksum source', manifest: (m) => (input(m).checksum = { from: 'guess' }), field: 'inputs[0].checksum.from', hint: 'file' },
  { title: 'a destination outside /usr and /opt', manifest: (m) => (rule(m).to = '/etc/tool'), field: 'inputs[0].extract[0].to', hint: 'under /usr/ or /opt/' },
  { title: 'a destination with ".."', manifest: (m) => (rule(m).to = '/usr/../etc/tool'), field: 'inputs[0].extract[0].to', hint: 'without ".."' },
  { title: 'a source that climbs out', manifest: (m) => (rule(m).from = '../tool'), field: 'inputs[0].extract[0].from', hint: 'without ".."' },
  { title: 'an absolute source', manifest: (m) => (rule(m).from = '/bin/tool'), field: 'inputs[0].extract[0].from', hint: 'relative path' },
  { title: 'a mode beyond 0o7777', manifest: (m) => (rule(m).mode = 0o17777), field: 'inputs[0].extract[0].mode', hint: 'a file mode' },
  { title: 'a directory mapped onto a file', manifest: (m) => Object.assign(rule(m), { from: 'bin/', to: '/usr/bin/tool' }), field: 'inputs[0].extract[0].to', hint: 'end in "/"' },
  { title: 'a "file" input with "from"', manifest: (m) => (input(m).kind = 'file'), field: 'inputs[0].extract[0].from', hint: 'omit it' },
  { title: 'a bad unit name', manifest: (m) => (m.units = { 'demo.exe': { Service: {} } }), field: 'units.demo.exe', hint: 'unit name' },
  { title: 'a lowercase unit section', manifest: (m) => (m.units = { 'demo.service': { service: { ExecStart: '/usr/bin/tool' } } }), field: 'units.demo.service.service', hint: 'unit section' },
  { title: 'enabling something that is no unit', manifest: (m) => (m.enable = ['demo']), field: 'enable[0]', hint: 'unit name' },
  { title: 'a malformed sysusers line', manifest: (m) => (m.sysusers = ['add user demo']), field: 'sysusers[0]', hint: 'sysusers.d line' },
  { title: 'a malformed tmpfiles line', manifest: (m) => (m.tmpfiles = ['/var/lib/demo']), field: 'tmpfiles[0]', hint: 'tmpfiles.d line' },
  { title: 'an unknown release compat', manifest: (m) => (m.release = { compat: 'latest' }), field: 'release.compat', hint: 'level' },
  { title: 'a quote in an extension-release value', manifest: (m) => (m.release = { extra: { SYSEXT_NAME: 'a "b"' } }), field: 'release.extra.SYSEXT_NAME', hint: 'without quotes' },
  { title: 'anyOf with one alternative', manifest: (m) => (m.requires = [{ anyOf: ['containerd'] }]), field: 'requires[0].anyOf', hint: 'two or more' },
  { title: 'a conflict with a made-up built-in', manifest: (m) => (m.conflicts = { builtins: ['docker'] }), field: 'conflicts.builtins[0]', hint: 'docker-flatcar' },
  { title: 'a line that is no MAJOR.MINOR', manifest: (m) => (m.lines = ['1']), field: 'lines[0]', hint: 'MAJOR.MINOR' },
  { title: 'an unknown version source', manifest: (m) => (m.upstream = { type: 'gitlab' }), field: 'upstream.type', hint: 'github-releases' },
  { title: 'a GitHub repo without owner', manifest: (m) => (m.upstream = { type: 'github-releases', repo: 'containerd' }), field: 'upstream.repo', hint: 'OWNER/REPO' },
  { title: 'a Debian closure without packages', manifest: (m) => (m.debian = { suite: 'trixie', packages: [], export: [{ from: '/usr/bin/x', to: '/usr/bin/x' }] }), field: 'debian.packages', hint: '' },
  { title: 'a name that is not the package name', manifest: (m) => (m.name = 'other'), field: 'name', hint: 'the package name "demo"' },
  { title: 'a lock missing an arch the manifest lists', manifest: (m) => (m.arch = ['x86-64', 'arm64']), field: 'images[0].inputs.tool.sha256.arm64', hint: 'a sha256 for arm64', file: 'extension.lock.json' },
  { title: 'a lock without a pin for an input', lock: (l) => (image0(l).inputs = {}), field: 'images[0].inputs.tool', hint: 'bakehouse bump demo', file: 'extension.lock.json' },
  { title: 'a lock pin that is no sha256', lock: (l) => (toolPin(l).sha256 = { 'x86-64': 'abc' }), field: 'images[0].inputs.tool.sha256.x86-64', hint: 'sha256', file: 'extension.lock.json' },
  { title: 'a lock version with a "v"', lock: (l) => (image0(l).version = 'v1.0.0'), field: 'images[0].version', hint: 'without a "v" prefix', file: 'extension.lock.json' },
  {
    title: 'a lock pinning an input the manifest lacks',
    lock: (l) => ((image0(l).inputs as Record<string, unknown>).extra = { version: '1', sha256: { 'x86-64': SHA }, checksum: 'upstream' }),
    field: 'images[0].inputs.extra',
    hint: 'no such input',
    file: 'extension.lock.json',
  },
];

let root: string;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'broken-manifests-'));
  await writeFile(path.join(root, 'pnpm-workspace.yaml'), 'packages:\n  - extensions/*\n');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function extensionDir(manifestSource: string, lock: unknown): Promise<string> {
  const dir = path.join(root, 'extensions', `case-${counter++}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'demo', private: true, type: 'module' }));
  await writeFile(path.join(dir, 'extension.ts'), manifestSource);
  if (lock !== undefined) await writeFile(path.join(dir, 'extension.lock.json'), typeof lock === 'string' ? lock : JSON.stringify(lock));
  return dir;
}

describe('broken manifests through the loader', () => {
  it('loads the unbroken manifest (so every failure below is the broken field)', async () => {
    const dir = await extensionDir(`export default ${JSON.stringify(validManifest())};`, validLock());
    await expect(loadExtension(dir, root)).resolves.toMatchObject({ manifest: { name: 'demo' } });
  });

  it.each(CASES)('$title: names $field', async ({ manifest: breakManifest, lock: breakLock, field, hint, file = 'extension.ts' }) => {
    const manifest = validManifest();
    breakManifest?.(manifest);
    const lock = validLock();
    breakLock?.(lock);
    const dir = await extensionDir(`export default ${JSON.stringify(manifest, null, 2)};`, lock);
    const error = await loadExtension(dir, root).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error, 'the broken manifest was accepted').toBeInstanceOf(Error);
    expect(error?.message).toContain(`${path.relative(root, path.join(dir, file))}:`);
    const line = error?.message.split('\n').find((l) => l.startsWith(`  - ${field}: expected`));
    expect(line, `no line for ${field} in:\n${error?.message}`).toBeDefined();
    expect(line).toContain(hint);
  });

  it('names the manifest file when it does not even load', async () => {
    const dir = await extensionDir('export default { name: "demo", ', validLock());
    await expect(loadExtension(dir, root)).rejects.toThrow(/extensions\/case-\d+\/extension\.ts: cannot load the manifest/);
  });

  it('names the lock file when it is not JSON', async () => {
    const dir = await extensionDir(`export default ${JSON.stringify(validManifest())};`, '{ "lockVersion": 1,');
    await expect(loadExtension(dir, root)).rejects.toThrow(/extensions\/case-\d+\/extension\.lock\.json: invalid extension manifest\n {2}- \(file\): expected valid JSON/);
  });
});
