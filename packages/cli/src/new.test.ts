import { access, copyFile, readdir, readFile, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeUpstream, fakeElf, fixtureBuildEnv, readFromImage, REPO_ROOT, runBakehouse, scratchWorkspace, serveDirectory, writeTar, type LoopbackServer } from '@bakehouse/fixtures';

const URL_TEMPLATE = 'https://github.com/example/hello/releases/download/v{version}/hello-{version}-linux-{goarch}.tar.gz';
const GOARCH = { 'x86-64': 'amd64', arm64: 'arm64' } as const;

let site: LoopbackServer;
let upstream: FakeUpstream;
let root: string;
let env: Record<string, string>;

beforeAll(async () => {
  root = await scratchWorkspace(['containerd']);
  // The scaffold's tsconfig.json extends the workspace's base config (which wants the root's @types/node), as every extension's does.
  await copyFile(path.join(REPO_ROOT, 'tsconfig.base.json'), path.join(root, 'tsconfig.base.json'));
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'));
  site = await serveDirectory(path.join(root, '.site'));
  upstream = new FakeUpstream(path.join(root, '.site'), site.url);
  // hello's upstream release, with the layout the URL template names: a tarball holding bin/hello.
  for (const arch of ['x86-64', 'arm64'] as const)
    await upstream.add(URL_TEMPLATE.replaceAll('{version}', '1.2.3').replace('{goarch}', GOARCH[arch]), (file) =>
      writeTar(file, [{ name: 'bin/hello', mode: 0o755, content: fakeElf(arch, 'hello 1.2.3 fixture') }], 'tar.gz'),
    );
  env = { BAKEHOUSE_UPSTREAM_GITHUB: `${site.url}/github.com`, BAKEHOUSE_CACHE_DIR: path.join(root, '.cache') };
}, 60_000);
afterAll(async () => {
  await site?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const extensionDir = (name: string) => path.join(root, 'extensions', name);
const exists = (file: string) => access(file).then(() => true, () => false);

describe('bakehouse new --from url', () => {
  it('scaffolds a locked package that passes lint, typechecks, builds at once and carries a changeset', async () => {
    const created = await runBakehouse(['new', 'hello', '--url', URL_TEMPLATE, '--version', '1.2.3', '--binary', 'bin/hello', '--description', "Says hello, that's all", '--quiet'], { cwd: root, env });
    expect(created.exitCode, created.all).toBe(0);
    const dir = extensionDir('hello');
    expect((await readdir(dir, { recursive: true })).sort()).toEqual(
      ['README.md', 'extension.lock.json', 'extension.ts', 'files', 'files/usr', 'files/usr/share', 'files/usr/share/doc', 'files/usr/share/doc/hello', 'files/usr/share/doc/hello/README.sysext', 'package.json', 'tsconfig.json'],
    );
    // Pinned from the download itself: upstream publishes no checksum for it.
    const lock = JSON.parse(await readFile(path.join(dir, 'extension.lock.json'), 'utf8'));
    expect(lock.images).toEqual([
      {
        version: '1.2.3',
        inputs: {
          hello: {
            version: '1.2.3',
            sha256: Object.fromEntries((['x86-64', 'arm64'] as const).map((arch) => [arch, upstream.sources[URL_TEMPLATE.replaceAll('{version}', '1.2.3').replace('{goarch}', GOARCH[arch])]!.sha256])),
            checksum: 'computed',
          },
        },
      },
    ]);
    expect(JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'))).toMatchObject({ name: 'hello', version: '0.0.0', scripts: { build: 'bakehouse build', 'test:boot': 'bakehouse test' } });
    expect(await readFile(path.join(dir, 'README.md'), 'utf8')).toContain('- path: /etc/extensions/hello.raw\n      target: /opt/extensions/hello/hello-1.2.3-x86-64.raw');
    expect(await readFile(path.join(root, '.changeset/new-hello.md'), 'utf8')).toBe('---\n"hello": minor\n---\n\nNew extension: Says hello, that\'s all (1.2.3).\n');
    const manifest = await readFile(path.join(dir, 'extension.ts'), 'utf8');
    expect(manifest).toContain("extract: [{ from: 'bin/hello', to: '/usr/bin/hello', mode: 0o755 }]");
    expect(manifest).toContain("smoke: { commands: ['hello --version'] }");

    // What `pnpm install` gives the new package: links to the two workspace packages every extension depends on.
    await symlink(path.join(REPO_ROOT, 'extensions/containerd/node_modules'), path.join(dir, 'node_modules'));
    const lint = await runBakehouse(['lint'], { cwd: root });
    expect(lint.exitCode, lint.all).toBe(0);
    expect(lint.stdout).toContain('2 extension(s) OK');
    const typecheck = await execa('pnpm', ['exec', 'tsc', '-p', path.join(dir, 'tsconfig.json')], { cwd: REPO_ROOT, reject: false, all: true });
    expect(typecheck.exitCode, typecheck.all).toBe(0);

    // The build reads the fixture through a source override, as builds without internet do.
    const build = await runBakehouse(['build', 'hello'], { cwd: dir, env: await fixtureBuildEnv(root, upstream.sources) });
    expect(build.exitCode, build.all).toBe(0);
    const dist = path.join(dir, 'dist');
    expect((await readdir(dist)).filter((f) => f.endsWith('.raw')).sort()).toEqual(['hello-1.2.3-arm64.raw', 'hello-1.2.3-x86-64.raw']);
    expect((await readFromImage(path.join(dist, 'hello-1.2.3-x86-64.raw'), '/usr/bin/hello')).includes('hello 1.2.3 fixture')).toBe(true);
    expect((await readFromImage(path.join(dist, 'hello-1.2.3-x86-64.raw'), '/usr/lib/extension-release.d/extension-release.hello')).toString()).toContain('SYSEXT_LEVEL=1.0');
  }, 120_000);

  it('refuses a name that exists, writing nothing', async () => {
    const result = await runBakehouse(['new', 'containerd', '--url', URL_TEMPLATE, '--version', '1.2.3'], { cwd: root, env });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe('bakehouse: extensions/containerd already exists: pick another name, or edit that extension');
    expect(await exists(path.join(root, '.changeset/new-containerd.md'))).toBe(false);
  });

  it('says what is missing without --url, and leaves nothing behind when the download fails', async () => {
    const noUrl = await runBakehouse(['new', 'tool'], { cwd: root, env });
    expect(noUrl.exitCode).toBe(1);
    expect(noUrl.stderr).toContain('--from url needs --url TEMPLATE');

    const missing = await runBakehouse(['new', 'tool', '--url', URL_TEMPLATE.replace('hello-', 'tool-'), '--version', '9.9.9', '--quiet'], { cwd: root, env });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('404');
    expect(await exists(extensionDir('tool'))).toBe(false);
    expect((await readdir(path.join(root, 'extensions'))).sort()).toEqual(['containerd', 'hello']);
    expect(await exists(path.join(root, '.changeset/new-tool.md'))).toBe(false);
  });
});

describe('bakehouse new --from deb', () => {
  let ws: string | undefined;
  afterAll(() => ws && rm(ws, { recursive: true, force: true }));

  it("proposes exports from the package's own file list, and the scaffold lints and builds", async () => {
    ws = await scratchWorkspace([]);
    await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(ws, 'node_modules'));
    const cacheEnv = { BAKEHOUSE_CACHE_DIR: path.join(ws, '.cache') };
    // The extension is not named after the command: the exports come from htop's .deb, not from "zz-demo".
    const created = await runBakehouse(['new', 'zz-demo', '--from', 'deb', '--package', 'htop', '--arch', 'x86-64', '--quiet'], { cwd: ws, env: cacheEnv });
    expect(created.exitCode, created.all).toBe(0);
    const dir = path.join(ws, 'extensions/zz-demo');
    const manifest = await readFile(path.join(dir, 'extension.ts'), 'utf8');
    expect(manifest).toContain("debian: { suite: 'trixie', packages: ['htop'], export: [{ from: '/usr/bin/htop', to: '/usr/bin/htop' }] }");
    expect(manifest).toContain("smoke: { commands: ['htop --version'] }");
    expect(await readFile(path.join(dir, 'README.md'), 'utf8')).toContain('- `/usr/bin/htop`');
    const lock = JSON.parse(await readFile(path.join(dir, 'extension.lock.json'), 'utf8')) as { images: { version: string; debian: Record<string, { package: string }[]> }[] };
    expect(lock.images[0]!.debian['x86-64']!.map((deb) => deb.package)).toContain('htop');
    const version = lock.images[0]!.version;
    expect(await readFile(path.join(ws, '.changeset/new-zz-demo.md'), 'utf8')).toContain(`(${version})`);

    await symlink(path.join(REPO_ROOT, 'extensions/containerd/node_modules'), path.join(dir, 'node_modules'));
    const lint = await runBakehouse(['lint'], { cwd: ws });
    expect(lint.exitCode, lint.all).toBe(0);
    const build = await runBakehouse(['build', 'zz-demo'], { cwd: dir, env: cacheEnv });
    expect(build.exitCode, build.all).toBe(0);
    const image = path.join(dir, `dist/zz-demo-${version}-x86-64.raw`);
    expect((await readFromImage(image, '/usr/lib/extension-release.d/extension-release.zz-demo')).toString()).toContain('SYSEXT_LEVEL=1.0');
    expect((await readFromImage(image, '/usr/lib/bakehouse/zz-demo/usr/bin/htop')).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  }, 240_000);

  it("proposes a daemon's units with its commands where they are, so its own units find them", async () => {
    const created = await runBakehouse(['new', 'zz-daemon', '--from', 'deb', '--package', 'chrony', '--arch', 'x86-64', '--quiet'], { cwd: ws!, env: { BAKEHOUSE_CACHE_DIR: path.join(ws!, '.cache') } });
    expect(created.exitCode, created.all).toBe(0);
    const manifest = await readFile(path.join(ws!, 'extensions/zz-daemon/extension.ts'), 'utf8');
    expect(manifest).toContain("{ from: '/usr/sbin/chronyd', to: '/usr/sbin/chronyd' }");
    expect(manifest).toContain("{ from: '/usr/bin/chronyc', to: '/usr/bin/chronyc' }");
    expect(manifest).toContain("{ from: '/usr/lib/systemd/system/chrony.service', to: '/usr/lib/systemd/system/chrony.service' }");
  }, 240_000);

  it('refuses a package with no command and no unit, writing nothing', async () => {
    const created = await runBakehouse(['new', 'zz-data', '--from', 'deb', '--package', 'tzdata-legacy', '--arch', 'x86-64', '--quiet'], { cwd: ws!, env: { BAKEHOUSE_CACHE_DIR: path.join(ws!, '.cache') } });
    expect(created.exitCode).toBe(1);
    expect(created.stderr).toContain('tzdata-legacy installs no command in /usr/bin or /usr/sbin and no systemd unit');
    expect(await exists(path.join(ws!, 'extensions/zz-data'))).toBe(false);
    expect(await exists(path.join(ws!, '.changeset/new-zz-data.md'))).toBe(false);
  }, 240_000);
});
