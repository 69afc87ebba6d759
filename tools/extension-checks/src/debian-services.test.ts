import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir, inspectImage, readRecord, type BuildRecord } from '@bakehouse/builder';
import { binfmtBlocker, elfArch, enableBinfmt, mergeSysext, readFromImage, runBakehouse, scratchWorkspace, type BinfmtSession } from '@bakehouse/fixtures';

/**
 * python, haproxy, keepalived and chrony are Debian trixie closures relocated into
 * /usr/lib/bakehouse/NAME, built here from the real Debian archive for both arches, once.
 * Their services are booted in packages/testbed/src/boot-debian-services.test.ts.
 */
const EXTENSIONS = ['python', 'haproxy', 'keepalived', 'chrony'] as const;
type Name = (typeof EXTENSIONS)[number];
const FLATCAR = { ID: 'flatcar', VERSION_ID: '4230.2.1', SYSEXT_LEVEL: '1.0' };
const prefix = (name: Name) => `/usr/lib/bakehouse/${name}`;

/** What each image may put outside its prefix, besides extension-release and the generated unit drop-ins. */
const EXPORTS: Record<Name, string[]> = {
  python: ['/usr/bin/python3', '/usr/bin/python3.13', '/usr/bin/pip3', '/usr/bin/pip', '/usr/lib/python3.13', '/usr/lib/python3', '/usr/share/python-wheels'],
  haproxy: ['/usr/bin/haproxy', '/usr/bin/halog', '/usr/share/haproxy/haproxy.cfg', '/usr/libexec/bakehouse/haproxy', '/usr/lib/systemd/system/haproxy.service', '/usr/lib/sysusers.d/haproxy.conf', '/usr/lib/tmpfiles.d/haproxy.conf'],
  keepalived: ['/usr/bin/keepalived', '/usr/bin/genhash', '/usr/lib/systemd/system/keepalived.service', '/usr/lib/tmpfiles.d/keepalived.conf'],
  chrony: ['/usr/bin/chronyd', '/usr/bin/chronyc', '/usr/share/chrony/chrony.conf', '/usr/libexec/bakehouse/chronyd', '/usr/lib/systemd/system/chronyd.service', '/usr/lib/sysusers.d/chrony.conf', '/usr/lib/tmpfiles.d/chrony.conf'],
};

/** One real ELF per image whose machine the arm64 build must have. */
const MAIN_BINARY: Record<Name, string> = {
  python: '/usr/bin/python3.13',
  haproxy: '/usr/sbin/haproxy',
  keepalived: '/usr/sbin/keepalived',
  chrony: '/usr/sbin/chronyd',
};

/** Commands run from an otherwise empty root (nothing of the host), and what they must print. */
const RUNS: Record<Name, Array<[string, RegExp]>> = {
  python: [['python3 -c "import platform, ssl, sqlite3, ensurepip; print(platform.machine(), ssl.OPENSSL_VERSION)"', /OpenSSL 3\./]],
  // The default haproxy.service falls back to while /etc/haproxy has none: valid, with the image's user.
  haproxy: [['haproxy -v', /HAProxy version 3\.0\./], ['haproxy -c -V -f /usr/share/haproxy/haproxy.cfg', /Configuration file is valid/]],
  // keepalived reads its build options from a compiled-in /etc path: the image's tmpfiles.d links it (BOOT_SETUP here).
  keepalived: [['keepalived --version', /Keepalived v2\.3\./]],
  chrony: [['chronyd -v', /chronyd \(chrony\) version 4\.6/], ['chronyc -v', /chronyc \(chrony\) version 4\.6/]],
};

/** What the images' sysusers.d and tmpfiles.d create at boot, done by hand in the merged root. */
const BOOT_SETUP = [
  `mkdir -p "$ROOT/proc" "$ROOT/tmp" "$ROOT/etc/keepalived" && mount -t proc proc "$ROOT/proc"`,
  `ln -s ${prefix('keepalived')}/etc/keepalived/keepalived.config-opts "$ROOT/etc/keepalived/keepalived.config-opts"`,
  `echo 'haproxy:x:991:991::/var/lib/haproxy:/usr/sbin/nologin' > "$ROOT/etc/passwd" && echo 'haproxy:x:991:' > "$ROOT/etc/group"`,
].join(' && ');

function chrootRuns(runs: Array<[string, RegExp]>): string {
  return runs.map(([command]) => `echo "## run ${command.replaceAll('"', '\\"')}"; chroot "$ROOT" /usr/bin/${command} 2>&1; rc=$?; echo; echo "## exit $rc"`).join('\n');
}

function expectRuns(output: string, runs: Array<[string, RegExp]>): void {
  const outcomes = [...output.matchAll(/^## run (.+)\n([\s\S]*?)^## exit (\d+)$/gm)].map(([, command, text, code]) => ({ command: command!, text: text!, exitCode: Number(code) }));
  for (const [command, prints] of runs) {
    const outcome = outcomes.find((o) => o.command === command);
    expect(outcome, `${command} did not run:\n${output}`).toBeDefined();
    expect(outcome!.exitCode, `${command}:\n${outcome!.text}`).toBe(0);
    expect(outcome!.text).toMatch(prints);
  }
}

let work: string;
let workspace: string;
const records = new Map<Name, BuildRecord>();
const images = new Map<string, string>();
const timings: Record<string, number> = {};

beforeAll(async () => {
  const started = Date.now();
  work = await mkdtemp(path.join(os.tmpdir(), 'debian-services-check-'));
  workspace = await scratchWorkspace([...EXTENSIONS]);
  // The download cache is content-addressed: sharing the user's saves the closures' .debs.
  const result = await runBakehouse(['build', '--arch', 'all', '--compression', 'gzip', '--quiet', ...EXTENSIONS], { cwd: workspace, env: { BAKEHOUSE_CACHE_DIR: defaultCacheDir() } });
  expect(result.exitCode, result.all).toBe(0);
  for (const name of EXTENSIONS) {
    const dist = path.join(workspace, 'extensions', name, 'dist');
    for (const arch of ['x86-64', 'arm64']) {
      const file = (await readdir(dist)).find((f) => f.endsWith(`-${arch}.raw`));
      expect(file, `no ${arch} image in ${dist}`).toBeDefined();
      images.set(`${name}/${arch}`, path.join(dist, file!));
    }
    records.set(name, await readRecord(images.get(`${name}/x86-64`)!.replace(/\.raw$/, '.json')));
  }
  timings['build 4 × 2 arches (gzip)'] = Date.now() - started;
}, 1_200_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  if (workspace) await rm(workspace, { recursive: true, force: true });
  process.stderr.write(`debian-services.test.ts timings: ${JSON.stringify(timings)}\n`);
});

describe('Debian-closure services: python, haproxy, keepalived, chrony', () => {
  it.each(EXTENSIONS)('%s: exports only its commands, units and defaults; nothing in /usr/sbin, no library outside the prefix', (name) => {
    const record = records.get(name)!;
    const outside = record.files
      .filter((f) => f.type !== 'dir' && !f.path.startsWith(`${prefix(name)}/`))
      .map((f) => f.path)
      .filter((p) => !p.startsWith('/usr/lib/extension-release.d/') && !/^\/usr\/lib\/systemd\/system\/[a-z-]+\.target\.d\//.test(p));
    expect(outside.sort()).toEqual([...EXPORTS[name]].sort());
    // Flatcar's own /usr/sbin must never be shadowed or replaced (bakery #131).
    expect(record.files.filter((f) => f.path === '/usr/sbin' || f.path.startsWith('/usr/sbin/'))).toEqual([]);
  });

  it('all four merge together with the host systemd-sysext, and their commands run from an otherwise empty root', async () => {
    const x86 = Object.fromEntries(EXTENSIONS.map((n) => [n, images.get(`${n}/x86-64`)!]));
    const result = await mergeSysext({
      images: x86,
      osRelease: FLATCAR,
      probe: [BOOT_SETUP, ...EXTENSIONS.map((n) => chrootRuns(RUNS[n]))].join('\n'),
    });
    expect([...result.listed].sort()).toEqual([...EXTENSIONS].sort());
    for (const name of EXTENSIONS) expectRuns(result.probeOutput, RUNS[name]);
    // Each closure carries its own libc; none is visible outside a prefix.
    expect(result.files.filter((f) => /\/libc\.so\.6$/.test(f)).every((f) => f.startsWith('usr/lib/bakehouse/'))).toBe(true);
  });

  it('the units pass systemd-analyze verify on a Flatcar-like /usr', async () => {
    const x86 = Object.fromEntries(EXTENSIONS.map((n) => [n, images.get(`${n}/x86-64`)!]));
    const result = await mergeSysext({
      images: x86,
      osRelease: FLATCAR,
      hostUsr: true,
      probe: 'systemd-analyze verify --root="$ROOT" haproxy.service keepalived.service chronyd.service 2>&1; echo "verify=$?"; grep -h ^Conflicts= "$ROOT/usr/lib/systemd/system/chronyd.service"',
    });
    expect(result.probeOutput, result.probeOutput).toContain('verify=0');
    expect(result.probeOutput).toMatch(/^Conflicts=systemd-timesyncd\.service ntpd\.service$/m);
  });

  it.each(EXTENSIONS)('%s: x86-64 and arm64 images carry their arch and the arch\'s ELF binaries', async (name) => {
    for (const arch of ['x86-64', 'arm64'] as const) {
      const image = images.get(`${name}/${arch}`)!;
      expect((await inspectImage(image)).extensionRelease).toMatchObject({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: arch });
      expect(elfArch(await readFromImage(image, `${prefix(name)}${MAIN_BINARY[name]}`))).toBe(arch);
    }
  });
});

const BLOCKER = await binfmtBlocker('arm64');
if (BLOCKER) {
  process.stderr.write(`debian-services.test.ts: arm64 runs SKIPPED, arm64 binaries cannot be run here: ${BLOCKER}\n`);
  it.skip(`arm64 execution (skipped: ${BLOCKER})`, () => {});
}

describe.skipIf(BLOCKER !== undefined)('arm64 images run under qemu-user', () => {
  let binfmt: BinfmtSession | undefined;
  beforeAll(async () => {
    binfmt = await enableBinfmt('arm64');
  });
  afterAll(async () => {
    await binfmt?.release();
  });

  it('all four arm64 images merge and their Debian arm64 binaries run', async () => {
    const started = Date.now();
    const arm = Object.fromEntries(EXTENSIONS.map((n) => [n, images.get(`${n}/arm64`)!]));
    const runs: Record<Name, Array<[string, RegExp]>> = { ...RUNS, python: [['python3 -c "import platform, ssl; print(platform.machine(), ssl.OPENSSL_VERSION)"', /^aarch64 OpenSSL 3\./m]] };
    const result = await mergeSysext({
      images: arm,
      osRelease: FLATCAR,
      force: true,
      probe: [BOOT_SETUP, ...EXTENSIONS.map((n) => chrootRuns(runs[n]))].join('\n'),
    });
    expect(result.exitCode, result.log).toBe(0);
    for (const name of EXTENSIONS) expectRuns(result.probeOutput, runs[name]);
    timings['arm64 runs under qemu-user'] = Date.now() - started;
  }, 300_000);
});
