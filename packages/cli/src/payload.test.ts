import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

let dir: string;
let key: string;
let pub: string;

/** Runs the command in-process and returns its exit code and output. */
async function bakehouse(...args: string[]) {
  let out = '';
  const spies = [process.stdout, process.stderr].map((stream) =>
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += chunk.toString();
      return true;
    }),
  );
  try {
    const code = await main(['node', 'bakehouse', ...args]);
    process.exitCode = undefined;
    return { code, out };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

async function sysext(name: string, release: string, pad = true): Promise<string> {
  const root = path.join(dir, `${name}-${pad}-root`);
  await mkdir(path.join(root, 'usr/lib/extension-release.d'), { recursive: true });
  await writeFile(path.join(root, 'usr/lib/extension-release.d', `extension-release.${name}`), release);
  await writeFile(path.join(root, 'usr/lib/data'), Buffer.from(Array.from({ length: 1_500_000 }, (_, i) => (i * 2654435761) >>> 24)));
  const file = path.join(dir, `${name}-${pad}.raw`);
  await execa('mksquashfs', [root, file, '-noappend', '-all-root', '-quiet', '-no-progress', '-mkfs-time', '0', '-all-time', '0', ...(pad ? [] : ['-nopad'])]);
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-cli-payload-'));
  key = path.join(dir, 'key.pem');
  pub = path.join(dir, 'pub.pem');
  await execa('openssl', ['genrsa', '-out', key, '2048']);
  await execa('openssl', ['rsa', '-in', key, '-pubout', '-out', pub]);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('bakehouse payload', () => {
  it('builds a payload that verifies and extracts to the same image; a changed byte names the broken check', async () => {
    const image = await sysext('flatcar-demo', 'ID=flatcar\nVERSION_ID=4230.2.1\n');
    const payload = path.join(dir, 'flatcar-demo.gz');
    const built = await bakehouse('payload', 'build', image, '--key', key, '--bzip2', '-o', payload, '--flatcar-version', '4230.2.1');
    expect(built.out).toMatch(/payload of .* for Flatcar 4230\.2\.1/);
    expect(built.code).toBe(0);
    const extracted = path.join(dir, 'extracted.raw');
    const verified = await bakehouse('payload', 'verify', payload, '--pub', pub, '-o', extracted);
    expect(verified.code).toBe(0);
    expect(verified.out).toMatch(/signature +version 2 verifies/);
    expect((await readFile(extracted)).equals(await readFile(image))).toBe(true);

    const bytes = await readFile(payload);
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(payload, bytes);
    const broken = await bakehouse('payload', 'verify', payload, '--pub', pub, '-o', path.join(dir, 'never.raw'));
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/flatcar-demo\.gz: signature check failed: none of the 1 signature/);
    await expect(readFile(path.join(dir, 'never.raw'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses names Flatcar never requests, images that do not fit the name, odd sizes and weak keys, writing nothing', async () => {
    const image = await sysext('flatcar-demo', 'ID=flatcar\nVERSION_ID=4230.2.1\n');
    const output = (name: string) => path.join(dir, 'refused', name);
    const cases: [string[], RegExp][] = [
      [[image, '--key', key, '-o', output('podman.gz')], /only requests oem-ID\.gz .* and flatcar-NAME\.gz/],
      [[image, '--key', key, '-o', output('flatcar-other.gz')], /names it "flatcar-demo", but hosts install this payload as \/etc\/extensions\/flatcar-other\.raw/],
      [[image, '--key', key, '-o', output('flatcar-demo.gz'), '--flatcar-version', '4100.0.0'], /built for Flatcar 4230\.2\.1 \(VERSION_ID\), not 4100\.0\.0/],
      [[await sysext('flatcar-level', 'ID=flatcar\nSYSEXT_LEVEL=1.0\n'), '--key', key, '-o', output('flatcar-level.gz')], /no VERSION_ID \(it says SYSEXT_LEVEL=1\.0\)/],
      [[await sysext('oem-odd', 'ID=flatcar\nVERSION_ID=4230.2.1\n', false), '--key', key, '-o', output('oem-odd.gz')], /not a positive multiple of 4096/],
    ];
    const weak = path.join(dir, 'weak.pem');
    await execa('openssl', ['genrsa', '-out', weak, '1024']);
    cases.push([[image, '--key', weak, '-o', output('flatcar-demo.gz')], /type rsa with 1024 bits; .*only RSA-2048/]);
    for (const [args, message] of cases) {
      const result = await bakehouse('payload', 'build', ...args);
      expect(result.out).toMatch(message);
      expect(result.code).toBe(1);
    }
    await expect(readFile(output('flatcar-demo.gz'))).rejects.toThrow(/ENOENT/);
  });

  it('mirror flatcar copies a release from a directory with the release server layout, verified with the update key', async () => {
    const release = path.join(dir, 'server/amd64-usr/4230.2.1');
    await mkdir(release, { recursive: true });
    const image = await sysext('flatcar-demo', 'ID=flatcar\nVERSION_ID=4230.2.1\n');
    expect((await bakehouse('payload', 'build', image, '--key', key, '-o', path.join(release, 'flatcar-demo.gz'))).code).toBe(0);
    expect((await bakehouse('payload', 'build', image, '--key', key, '-o', path.join(release, 'flatcar_production_update.gz'))).code).toBe(1);
    // An OS payload stands in as any signed payload; its published sha256 sits beside it.
    await writeFile(path.join(release, 'flatcar_production_update.gz'), await readFile(path.join(release, 'flatcar-demo.gz')));
    const { stdout } = await execa('sha256sum', ['flatcar_production_update.gz'], { cwd: release });
    await writeFile(path.join(release, 'flatcar_production_update.gz.sha256'), stdout);
    const to = path.join(dir, 'mirror');
    const args = ['mirror', 'flatcar', '--channel', 'stable', '--version', '4230.2.1', '--board', 'amd64-usr', '--to', to, '--from', path.join(dir, 'server'), '--update-key', pub, '--base-url', 'http://nebraska.internal/flatcar', '--extensions', 'demo'];
    const first = await bakehouse(...args);
    expect(first.out).toMatch(/copied flatcar_production_update\.gz .*matches the release server's/);
    expect(first.out).toMatch(/copied flatcar-demo\.gz .*no published sha256; its signature was checked/);
    expect(first.code).toBe(0);
    const second = await bakehouse(...args);
    expect(second.out).toMatch(/kept +flatcar-demo\.gz/);
    const nebraska = JSON.parse(await readFile(path.join(to, 'amd64-usr/4230.2.1/nebraska-package.json'), 'utf8'));
    expect(nebraska.extra_files.map((f: { name: string }) => f.name)).toEqual(['flatcar-demo.gz']);
  });

  it('states the trust model in --help', async () => {
    for (const command of [['payload', 'build'], ['payload', 'verify'], ['mirror', 'flatcar'], ['publish']]) {
      const help = await bakehouse(...command, '--help');
      expect(help.out.replace(/\s+/g, ' ')).toMatch(/Trust model: a Flatcar host installs a payload only if it verifies against the update key inside its own image/);
    }
  });
});
