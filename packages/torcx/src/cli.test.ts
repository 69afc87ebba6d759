import { copyFile, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_TARS, readFromImage, REPO_ROOT, runBakehouse, scratchWorkspace } from '@bakehouse/fixtures';
import { bootTestbed, ensureTestbedRoot } from '@bakehouse/testbed';
import { dockerTorcxEntries, torcxBuildRewrite, writeTorcxImage } from './test-support/torcx-image.js';

/**
 * The real CLI (built dist) on synthetic Torcx images: a small web server whose binary is
 * Debian's static busybox, so the converted unit really runs in the booted testbed, and
 * Flatcar's docker image layout.
 */

const HELLO_UNIT = `[Unit]
Description=Hello over HTTP
After=network.target

[Service]
ExecStart=/usr/bin/hello-httpd \${TORCX_UNPACKDIR}\${TORCX_IMAGEDIR}/usr/share/hello/www

[Install]
WantedBy=multi-user.target
`;
const HELLO_PAGE = 'hello from a converted torcx image\n';
const PORT = 8080;

let work: string;
let root: string;
let helloImage: string;
const env = () => ({ BAKEHOUSE_CACHE_DIR: path.join(work, 'cache'), BAKEHOUSE_COMPRESSION: 'gzip' });
const extensionDir = (name: string) => path.join(root, 'extensions', name);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'torcx-cli-'));
  root = await scratchWorkspace(['containerd', 'docker']);
  await copyFile(path.join(REPO_ROOT, 'tsconfig.base.json'), path.join(root, 'tsconfig.base.json'));
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'));
  helloImage = path.join(work, 'hello:1.4.torcx.tgz');
  await writeTorcxImage(helloImage, [
    { name: './', type: 'directory' },
    { name: './.torcx/manifest.json', content: JSON.stringify({ kind: 'image-manifest-v0', value: { bin: ['/bin/busybox', '/bin/hello-httpd'], units: ['/lib/systemd/system/hello.service', '/lib/systemd/system/multi-user.target.wants'] } }) },
    { name: './bin/busybox', mode: 0o755, content: await readFile('/bin/busybox') },
    { name: './bin/hello-httpd', mode: 0o755, content: `#!/bin/sh\nexec busybox httpd -f -p 127.0.0.1:${PORT} -h "$1"\n` },
    { name: './lib/systemd/system/hello.service', content: await torcxBuildRewrite(HELLO_UNIT, 'hello') },
    { name: './lib/systemd/system/multi-user.target.wants/hello.service', type: 'symlink', linkname: '../hello.service' },
    { name: './lib/systemd/network/50-hello.network', content: '[Match]\nName=hello0\n' },
    { name: './usr/share/hello/www/index.html', content: HELLO_PAGE },
    { name: './etc/hello/hello.conf', content: 'port=8080\n' },
  ]);
}, 60_000);
afterAll(async () => {
  for (const dir of [work, root]) if (dir) await rm(dir, { recursive: true, force: true });
});

/** What `pnpm install` gives a new package: links to the workspace packages every extension depends on. */
const linkModules = (name: string) => symlink(path.join(REPO_ROOT, 'extensions/containerd/node_modules'), path.join(extensionDir(name), 'node_modules'));

describe('bakehouse convert-torcx', () => {
  let packageImage: string;

  it('--package writes an extension package that lints and builds like any other', async () => {
    const converted = await runBakehouse(['convert-torcx', helloImage, '--package'], { cwd: root, env: env() });
    expect(converted.exitCode, converted.all).toBe(0);
    expect(converted.stdout).toContain('- `lib/systemd/system/multi-user.target.wants/hello.service` became `enable: { unit: \'hello.service\', target: \'multi-user.target\' }`');
    expect(converted.stdout).toContain('- not carried by the sysext: `/etc/hello/hello.conf`');
    expect(converted.stdout).toContain('created extensions/hello (1.4, x86-64) and .changeset/new-hello.md');

    const dir = extensionDir('hello');
    expect((await readdir(dir)).sort()).toEqual(['README.md', 'extension.lock.json', 'extension.ts', 'files', 'package.json', 'tsconfig.json']);
    const manifest = await readFile(path.join(dir, 'extension.ts'), 'utf8');
    expect(manifest).toContain("enable: [{ unit: 'hello.service', target: 'multi-user.target' }]");
    expect(manifest).toContain("smoke: { units: ['hello.service'] }");
    expect(JSON.parse(await readFile(path.join(dir, 'extension.lock.json'), 'utf8'))).toMatchObject({ lockVersion: 1, images: [{ version: '1.4', inputs: {} }] });
    expect(await readFile(path.join(dir, 'files/usr/lib/systemd/system/hello.service'), 'utf8')).toBe(HELLO_UNIT.replace('${TORCX_UNPACKDIR}${TORCX_IMAGEDIR}', ''));
    expect(await readFile(path.join(root, '.changeset/new-hello.md'), 'utf8')).toBe('---\n"hello": minor\n---\n\nNew extension: hello 1.4, converted from the Torcx image hello:1.4.torcx.tgz (1.4).\n');
    expect(await readFile(path.join(dir, 'README.md'), 'utf8')).toContain('- dropped `etc/` (1 entry): systemd-sysext merges only /usr and /opt');
    expect((await readdir(path.join(root, 'extensions'))).sort()).toEqual(['containerd', 'docker', 'hello']);

    await linkModules('hello');
    const lint = await runBakehouse(['lint'], { cwd: root });
    expect(lint.exitCode, lint.all).toBe(0);
    expect(lint.stdout).toContain('3 extension(s) OK');
    const typecheck = await execa('pnpm', ['exec', 'tsc', '-p', path.join(dir, 'tsconfig.json')], { cwd: REPO_ROOT, reject: false, all: true });
    expect(typecheck.exitCode, typecheck.all).toBe(0);

    const build = await runBakehouse(['build', 'hello', '--arch', 'x86-64', '--quiet'], { cwd: dir, env: env() });
    expect(build.exitCode, build.all).toBe(0);
    packageImage = path.join(dir, 'dist/hello-1.4-x86-64.raw');
    const files = (await execa('unsquashfs', ['-lc', packageImage])).stdout.split('\n').map((line) => line.replace(/^squashfs-root/, ''));
    expect(files).toContain('/usr/lib/systemd/system/multi-user.target.d/10-hello-hello.service.conf');
    expect(files.filter((file) => file.includes('.wants') || file.startsWith('/etc'))).toEqual([]);
    expect((await readFromImage(packageImage, '/usr/lib/systemd/system/multi-user.target.d/10-hello-hello.service.conf')).toString().trimEnd()).toBe('[Unit]\nUpholds=hello.service');
  }, 180_000);

  it('--image builds the same image straight away', async () => {
    const out = path.join(work, 'images');
    const converted = await runBakehouse(['convert-torcx', helloImage, '--image', '--out', out], { cwd: work, env: env() });
    expect(converted.exitCode, converted.all).toBe(0);
    expect(converted.stdout).toMatch(/wrote images\/hello-1\.4-x86-64\.raw \(\d+ bytes, sha256 [0-9a-f]{64}\)/);
    expect(await readFile(path.join(out, 'hello-1.4-x86-64.raw'))).toEqual(await readFile(packageImage));
  }, 120_000);

  it('the converted image boots in the testbed and its service serves from /usr/share', async () => {
    const flatcar = JSON.parse(await readFile(path.join(REPO_ROOT, 'flatcar.json'), 'utf8')) as { version: string };
    const testbed = await ensureTestbedRoot(flatcar.version);
    const result = await bootTestbed({
      root: testbed,
      extensions: { hello: packageImage },
      checks: { units: ['hello.service'], commands: [`busybox wget -qO- http://127.0.0.1:${PORT}/index.html`, 'systemctl show -P ExecStart hello.service'] },
      timeoutMs: 120_000,
    });
    expect(result.ok, `${result.problem ?? ''}\n${JSON.stringify(result.checks, null, 2)}\n${result.journal ?? ''}`).toBe(true);
    expect(result.checks.find((c) => c.name.includes('wget'))?.output).toBe(HELLO_PAGE.trim());
    expect(result.checks.find((c) => c.name.includes('ExecStart'))?.output).toContain('path=/usr/bin/hello-httpd ; argv[]=/usr/bin/hello-httpd /usr/share/hello/www');
  }, 600_000);

  it('declares conflicts with the extensions and Flatcar built-ins that ship the same commands, so lint passes', async () => {
    const dockerImage = path.join(work, 'docker:20.10.torcx.tgz');
    await writeTorcxImage(dockerImage, await dockerTorcxEntries());
    const taken = await runBakehouse(['convert-torcx', dockerImage], { cwd: root, env: env() });
    expect(taken.exitCode).toBe(1);
    expect(taken.stderr).toBe('bakehouse: extensions/docker already exists: pick another name with --name (e.g. --name docker-torcx), or remove it');

    const converted = await runBakehouse(['convert-torcx', dockerImage, '--name', 'docker-torcx'], { cwd: root, env: env() });
    expect(converted.exitCode, converted.all).toBe(0);
    expect(await readFile(path.join(extensionDir('docker-torcx'), 'extension.ts'), 'utf8')).toContain(
      "conflicts: { extensions: ['containerd', 'docker'], builtins: ['docker-flatcar', 'containerd-flatcar'] }",
    );
    await linkModules('docker-torcx');
    const lint = await runBakehouse(['lint'], { cwd: root });
    expect(lint.exitCode, lint.all).toBe(0);
  }, 120_000);

  it('refuses a hostile image and leaves no package, changeset or scratch directory', async () => {
    const hostile = HOSTILE_TARS.find((c) => c.title === 'a ".." name')!;
    const evil = path.join(work, 'evil:1.0.torcx.tgz');
    await writeTorcxImage(evil, [{ name: '.torcx/manifest.json', content: '{"kind":"image-manifest-v0","value":{}}' }, ...hostile.entries]);
    const before = (await readdir(path.join(root, 'extensions'))).sort();
    const refused = await runBakehouse(['convert-torcx', evil, '--package'], { cwd: root, env: env() });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('bakehouse: cannot convert evil:1.0.torcx.tgz, nothing was written: input "evil": refusing evil:1.0.torcx.tgz: entry "../evil" has a ".." component');
    expect((await readdir(path.join(root, 'extensions'))).sort()).toEqual(before);
    expect(await readdir(path.join(root, '.changeset')).catch(() => [])).not.toContain('new-evil.md');

    const both = await runBakehouse(['convert-torcx', helloImage, '--package', '--image'], { cwd: root, env: env() });
    expect(both.exitCode).toBe(1);
    expect(both.stderr).toContain('give --package (an extension package) or --image (an image), not both');
  });
});
