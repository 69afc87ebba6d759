import { rm, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binfmtBlocker, elfArch, enableBinfmt, mergeSysext, readFromImage, REPO_ROOT, runBakehouse, scratchWorkspace, type BinfmtSession } from '@bakehouse/fixtures';
import { buildRecordFiles, defaultCacheDir, inspectImage, readRecord, type BuildRecord } from '@bakehouse/builder';

/**
 * btop, nebula and incus are Debian trixie closures, built here from the real archive (the
 * registry this project may reach) for both arches, once for the whole file.
 */
const FLATCAR = { ID: 'flatcar', VERSION_ID: '4230.2.1', SYSEXT_LEVEL: '1.0' };
const EXTENSIONS = ['btop', 'nebula', 'incus'] as const;
type Name = (typeof EXTENSIONS)[number];
const prefix = (name: Name) => `/usr/lib/bakehouse/${name}`;

/** What may appear outside each prefix: the exported commands, generated units and drop-ins, and incus' setup helper. */
const OUTSIDE: Record<Name, RegExp> = {
  btop: /^\/usr\/(bin\/btop|lib\/extension-release\.d\/extension-release\.btop)$/,
  nebula: /^\/usr\/(bin\/nebula(-cert)?|lib\/extension-release\.d\/extension-release\.nebula|lib\/systemd\/system\/(nebula\.service|multi-user\.target\.d\/10-nebula-nebula\.service\.conf))$/,
  incus: /^\/usr\/(bin\/(incus|lxcfs)|libexec\/incus\/incusd|libexec\/bakehouse\/incus-setup|lib\/x86_64-linux-gnu\/lxcfs\/liblxcfs\.so|lib\/extension-release\.d\/extension-release\.incus|lib\/(sysusers|tmpfiles)\.d\/incus\.conf|lib\/systemd\/system\/((incus|incus-startup|lxcfs)\.service|incus\.socket|(multi-user|sockets)\.target\.d\/10-incus-incus(-startup\.service|\.socket)\.conf))$/,
};

/** The main binary of each image, checked for its ELF machine. */
const MAIN_BINARY: Record<Name, string> = { btop: '/usr/bin/btop', nebula: '/usr/bin/nebula', incus: '/usr/libexec/incus/incusd' };

/** A CA and a host certificate with nebula-cert, then the certificate read back: nebula's PKI job, without a tun device. */
const NEBULA_PKI = [
  'mkdir -p "$ROOT/tmp/pki"',
  'chroot "$ROOT" /usr/bin/nebula-cert ca -name bakehouse-ca -out-crt /tmp/pki/ca.crt -out-key /tmp/pki/ca.key',
  'chroot "$ROOT" /usr/bin/nebula-cert sign -name host-a -ip 10.42.0.7/24 -ca-crt /tmp/pki/ca.crt -ca-key /tmp/pki/ca.key -out-crt /tmp/pki/host.crt -out-key /tmp/pki/host.key',
  'chroot "$ROOT" /usr/bin/nebula-cert verify -ca /tmp/pki/ca.crt -crt /tmp/pki/host.crt && echo nebula-verify=ok',
  'chroot "$ROOT" /usr/bin/nebula-cert print -json -path /tmp/pki/host.crt',
].join(' && ');

/** A real /proc (Go runtimes read /proc/self), and the passwd entry of root: the incus client looks up its user's home for its config. */
const PROC = 'mkdir -p "$ROOT/tmp" "$ROOT/proc" "$ROOT/root" "$ROOT/etc" && mount -t proc proc "$ROOT/proc" && echo "root:x:0:0:root:/root:/bin/sh" > "$ROOT/etc/passwd"';

let work: string;
let workspace: string;
const records = new Map<string, BuildRecord>();
const image = (name: Name, arch: 'x86-64' | 'arm64') => path.join(workspace, 'extensions', name, 'dist', records.get(`${name}/${arch}`)!.image.file);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'debian-more-check-'));
  workspace = await scratchWorkspace([...EXTENSIONS]);
  // The download cache is content-addressed: sharing the user's saves downloading the closures again.
  const result = await runBakehouse(['build', '--arch', 'all', '--compression', 'gzip', '--quiet', ...EXTENSIONS], { cwd: workspace, env: { BAKEHOUSE_CACHE_DIR: defaultCacheDir() } });
  expect(result.exitCode, result.all).toBe(0);
  for (const name of EXTENSIONS) {
    const dist = path.join(workspace, 'extensions', name, 'dist');
    for (const file of await buildRecordFiles(dist, name)) {
      const record = await readRecord(path.join(dist, file));
      records.set(`${name}/${record.arch}`, record);
    }
  }
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  if (workspace) await rm(workspace, { recursive: true, force: true });
});

describe('btop, nebula and incus from Debian', () => {
  it.each(EXTENSIONS)('%s: both arches carry SYSEXT_LEVEL and their own ARCHITECTURE, and binaries of that machine', async (name) => {
    for (const arch of ['x86-64', 'arm64'] as const) {
      const release = (await inspectImage(image(name, arch))).extensionRelease;
      expect(release).toMatchObject({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: arch });
      expect(elfArch(await readFromImage(image(name, arch), `${prefix(name)}${MAIN_BINARY[name]}`))).toBe(arch);
    }
  });

  it.each(EXTENSIONS)('%s: only declared files leave the prefix, and no library does', (name) => {
    const outside = records.get(`${name}/x86-64`)!.files.filter((f) => f.type !== 'dir' && !f.path.startsWith(`${prefix(name)}/`)).map((f) => f.path);
    expect(outside.length).toBeGreaterThan(0);
    for (const file of outside) expect(file).toMatch(OUTSIDE[name]);
  });

  it("incus: liblxc's compiled-in rootfs mount point is a real directory for each arch, not a link into the prefix", () => {
    for (const [arch, triplet] of [['x86-64', 'x86_64-linux-gnu'], ['arm64', 'aarch64-linux-gnu']] as const) {
      const files = records.get(`incus/${arch}`)!.files;
      expect(files.find((f) => f.path === `/usr/lib/${triplet}/lxc/rootfs`)?.type, arch).toBe('dir');
      expect(files.find((f) => f.path === `/usr/lib/${triplet}/lxcfs/liblxcfs.so`), arch).toMatchObject({ type: 'symlink', target: `${prefix('incus')}/usr/lib/${triplet}/lxcfs/liblxcfs.so` });
    }
  });

  it('runs from an otherwise empty root: btop, nebula, nebula-cert, incus, incusd and lxcfs with the closures\' own libc', async () => {
    const runs = ['btop --version', 'nebula -version', 'incus --version', 'lxcfs --version']
      .map((command) => `echo "## ${command}"; chroot "$ROOT" /usr/bin/${command} 2>&1; echo "## exit $?"`)
      .concat(`echo "## incusd"; chroot "$ROOT" /usr/libexec/incus/incusd --version 2>&1; echo "## exit $?"`);
    const result = await mergeSysext({
      images: Object.fromEntries(EXTENSIONS.map((name) => [name, image(name, 'x86-64')])),
      osRelease: FLATCAR,
      probe: [PROC, ...runs, NEBULA_PKI].join('\n'),
    });
    expect(result.listed.sort()).toEqual(['btop', 'incus', 'nebula']);
    const out = result.probeOutput;
    expect(out).toMatch(/## btop --version\nbtop version: 1\.3\.\d+\n## exit 0/);
    expect(out).toMatch(/## nebula -version\nVersion: 1\.9\.\d+\n## exit 0/);
    expect(out).toMatch(/## incus --version\n6\.0\.\d+\n## exit 0/);
    expect(out).toMatch(/## incusd\n6\.0\.\d+\n## exit 0/);
    // lxcfs quotes its version.
    expect(out).toMatch(/## lxcfs --version\n"6\.0\.\d+"\n## exit 0/);
    expect(out).toContain('nebula-verify=ok');
    const cert = JSON.parse(out.slice(out.indexOf('{'))) as { details: { name: string; ips: string[]; isCa: boolean } };
    expect(cert.details).toMatchObject({ name: 'host-a', ips: ['10.42.0.7/24'], isCa: false });
    // No libc in the root but the closures' own.
    expect(result.files.filter((f) => /\/libc\.so\.6$/.test(f)).every((f) => f.startsWith('usr/lib/bakehouse/'))).toBe(true);
  });

  it('the units pass systemd-analyze verify on a host /usr, and incusd looks up its tools in the closure first', async () => {
    const units = ['nebula.service', 'incus.service', 'incus.socket', 'incus-startup.service', 'lxcfs.service'];
    const result = await mergeSysext({
      images: { nebula: image('nebula', 'x86-64'), incus: image('incus', 'x86-64') },
      osRelease: FLATCAR,
      hostUsr: true,
      probe: `systemd-analyze verify --root="$ROOT" ${units.join(' ')} 2>&1; echo "verify=$?"; grep -h '^Environment=PATH=\\|^ConditionPathExists=\\|^ListenStream=' "$ROOT"/usr/lib/systemd/system/incus.service "$ROOT"/usr/lib/systemd/system/incus.socket "$ROOT"/usr/lib/systemd/system/nebula.service`,
    });
    expect(result.probeOutput).toContain('verify=0');
    expect(result.probeOutput).toContain('Environment=PATH=/usr/lib/bakehouse/incus/usr/libexec/incus:/usr/lib/bakehouse/incus/usr/sbin:/usr/lib/bakehouse/incus/usr/bin:/usr/sbin:/usr/bin');
    expect(result.probeOutput).toContain('ListenStream=/var/lib/incus/unix.socket');
    expect(result.probeOutput).toContain('ConditionPathExists=/etc/nebula/config.yml');
    // What incusd runs by name is really in the closure.
    const files = records.get('incus/x86-64')!.files.map((f) => f.path);
    for (const tool of ['usr/bin/rsync', 'usr/sbin/nft', 'usr/sbin/dnsmasq', 'usr/bin/unsquashfs', 'usr/bin/xz', 'usr/bin/setfattr', 'usr/bin/tar2sqfs'])
      expect(files, tool).toContain(`${prefix('incus')}/${tool}`);
  });

  it('incus-setup gives root subordinate ids above every range in use, and keeps an operator\'s own', async () => {
    const setup = path.join(REPO_ROOT, 'extensions/incus/files/usr/libexec/bakehouse/incus-setup');
    const result = await mergeSysext({
      images: { incus: image('incus', 'x86-64') },
      osRelease: FLATCAR,
      probe: [
        'mkdir -p "$ROOT/etc" && printf "core:1000000:65536\\ntester:2000000:65536\\n" > "$ROOT/etc/subuid"',
        `SYSROOT="$ROOT" sh ${setup} && echo "## fresh" && cat "$ROOT/etc/subuid" "$ROOT/etc/subgid"`,
        `SYSROOT="$ROOT" sh ${setup} && echo "## again" && cat "$ROOT/etc/subuid"`,
        'printf "root:5:65536\\n" > "$ROOT/etc/subgid"',
        `SYSROOT="$ROOT" sh ${setup} && echo "## operator" && cat "$ROOT/etc/subgid"`,
      ].join(' && '),
    });
    expect(result.probeOutput).toContain('## fresh\ncore:1000000:65536\ntester:2000000:65536\nroot:2065536:1000000000\nroot:1000000:1000000000\n## again');
    expect(result.probeOutput).toContain('## again\ncore:1000000:65536\ntester:2000000:65536\nroot:2065536:1000000000\n## operator');
    expect(result.probeOutput).toMatch(/## operator\nroot:5:65536$/);
  });
});

const BLOCKER = await binfmtBlocker('arm64');
if (BLOCKER) process.stderr.write(`debian-more.test.ts: arm64 runs SKIPPED, arm64 binaries cannot be run here: ${BLOCKER}\n`);
if (BLOCKER) it.skip(`arm64 execution (skipped: ${BLOCKER})`, () => {});

describe.skipIf(BLOCKER !== undefined)('the arm64 images run under qemu-user', () => {
  let binfmt: BinfmtSession | undefined;
  beforeAll(async () => {
    binfmt = await enableBinfmt('arm64');
  });
  afterAll(async () => {
    await binfmt?.release();
  });

  it('Debian\'s arm64 btop, nebula-cert and incus run from the merged root', async () => {
    const result = await mergeSysext({
      images: Object.fromEntries(EXTENSIONS.map((name) => [name, image(name, 'arm64')])),
      osRelease: FLATCAR,
      force: true,
      probe: [PROC, 'chroot "$ROOT" /usr/bin/btop --version', 'chroot "$ROOT" /usr/bin/incus --version', NEBULA_PKI].join(' && '),
    });
    expect(result.exitCode, result.log).toBe(0);
    expect(result.probeOutput).toMatch(/^btop version: 1\.3\.\d+\n6\.0\.\d+\n/);
    expect(result.probeOutput).toContain('nebula-verify=ok');
    expect(result.probeOutput).toMatch(/"name":\s*"host-a"/);
  }, 120_000);
});
