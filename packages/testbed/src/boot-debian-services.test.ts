import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir } from '@bakehouse/builder';
import { runBakehouse, scratchWorkspace } from '@bakehouse/fixtures';
import { bootTestbed, ensureTestbedRoot, findImages, type BootResult, type Checks, type PlacedFile } from './index.js';
import { describeFailure, output } from './test-support/boot-helpers.js';
import { repoFlatcarVersion, repoManifest } from './test-support/workspace.js';

// python, haproxy, keepalived and chrony (Debian trixie closures) booted together in ONE
// systemd-nspawn run: each manifest's own smoke checks, plus each service doing its job with
// an operator's configuration in /etc, against servers this test places: a busybox httpd
// behind haproxy, a dummy link for keepalived's VRRP instance, a second chronyd serving NTP.

const EXTENSIONS = ['python', 'haproxy', 'keepalived', 'chrony'] as const;
const KEEPALIVED_IP = '/usr/lib/bakehouse/keepalived/usr/bin/ip';
const WEB_PAGE = 'served-by-busybox-httpd';

/** A unit of the test's own, started with the system (no image carries it). */
function testUnit(name: string, body: string): Record<string, PlacedFile> {
  return {
    [`/etc/systemd/system/${name}`]: `${body}\n[Install]\nWantedBy=multi-user.target\n`,
    [`/etc/systemd/system/multi-user.target.wants/${name}`]: { symlink: `/etc/systemd/system/${name}` },
  };
}

/** What an operator (and this test) puts into /etc, and the servers the services talk to. */
const FILES: Record<string, PlacedFile> = {
  // Debian's busybox-static from the host: the testbed root has no HTTP server or client.
  '/usr/local/bin/busybox': { copy: '/bin/busybox' },
  '/srv/www/index.html': `${WEB_PAGE}\n`,
  ...testUnit('bakehouse-web.service', '[Service]\nExecStart=/usr/local/bin/busybox httpd -f -p 127.0.0.1:8081 -h /srv/www\n'),
  '/etc/haproxy/haproxy.cfg': [
    'global',
    '    user haproxy',
    '    group haproxy',
    '    stats socket /run/haproxy/admin.sock mode 660 level admin',
    'defaults',
    '    mode http',
    '    timeout connect 5s',
    '    timeout client 30s',
    '    timeout server 30s',
    'frontend web',
    '    bind 127.0.0.1:8080',
    '    default_backend busybox',
    'backend busybox',
    '    server httpd 127.0.0.1:8081 check',
    '',
  ].join('\n'),
  // The link (with an IPv4 address, which VRRP needs) must exist before keepalived starts; a host has a real NIC here.
  ...testUnit(
    'bakehouse-vrrp-link.service',
    `[Unit]\nBefore=keepalived.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=${KEEPALIVED_IP} link add vrrp0 type veth peer name vrrp1\nExecStart=${KEEPALIVED_IP} addr add 192.0.2.1/24 dev vrrp0\nExecStart=${KEEPALIVED_IP} link set vrrp0 up\nExecStart=${KEEPALIVED_IP} link set vrrp1 up\n`,
  ),
  '/etc/keepalived/keepalived.conf': [
    'vrrp_instance VI_TEST {',
    '    state BACKUP',
    '    interface vrrp0',
    '    virtual_router_id 51',
    '    priority 100',
    '    advert_int 1',
    '    virtual_ipaddress {',
    '        192.0.2.51/32',
    '    }',
    '}',
    '',
  ].join('\n'),
  // A second chronyd as the NTP server on loopback; -x: a container has no CAP_SYS_TIME.
  '/etc/bakehouse-ntp-server.conf': 'local stratum 8\nallow 127.0.0.1\nbindaddress 127.0.0.1\nport 11124\ncmdport 0\nbindcmdaddress /run/bakehouse-ntp-server/chronyd.sock\npidfile /run/bakehouse-ntp-server.pid\n',
  ...testUnit('bakehouse-ntp-server.service', '[Unit]\nBefore=chronyd.service\n[Service]\nExecStart=/usr/bin/chronyd -d -x -u root -f /etc/bakehouse-ntp-server.conf\n'),
  '/etc/chrony/chrony.conf': 'server 127.0.0.1 port 11124 iburst minpoll 0 maxpoll 0\ndriftfile /var/lib/chrony/chrony.drift\n',
  // The documented container setup: chronyd disciplines no clock (-x), so it needs no CAP_SYS_TIME.
  '/etc/default/chrony': 'DAEMON_OPTS="-F 1 -x"\n',
  '/etc/systemd/system/chronyd.service.d/10-no-clock.conf': '[Unit]\n# An empty assignment drops the image\'s ConditionCapability=CAP_SYS_TIME.\nConditionCapability=\n',
};

const WGET = 'busybox wget -qO- http://127.0.0.1:8080/';
const VIP = `for i in $(seq 30); do ${KEEPALIVED_IP} -4 addr show dev vrrp0 | grep "inet 192.0.2.51/32" && exit 0; sleep 0.5; done; exit 1`;
const SOURCES = 'for i in $(seq 40); do chronyc -n sources | grep -q "^\\^\\* *127.0.0.1" && break; sleep 0.5; done; chronyc -n sources';
const TRACKING = 'chronyc -n tracking';
const TIMESYNCD = 'systemctl show -p Conflicts --value chronyd.service';

let work: string;
let workspace: string;
let result: BootResult;
const manifestChecks: Record<string, Checks> = {};
const timings: Record<string, number> = {};

beforeAll(async () => {
  let started = Date.now();
  const lap = (name: string) => {
    timings[name] = Date.now() - started;
    started = Date.now();
  };
  work = await mkdtemp(path.join(os.tmpdir(), 'debian-services-boot-'));
  const root = await ensureTestbedRoot(await repoFlatcarVersion());
  lap('testbed root');
  workspace = await scratchWorkspace([...EXTENSIONS]);
  // The download cache is content-addressed: sharing the user's saves the closures' .debs.
  const build = await runBakehouse(['build', '--arch', 'x86-64', '--compression', 'gzip', '--quiet', ...EXTENSIONS], { cwd: workspace, env: { BAKEHOUSE_CACHE_DIR: defaultCacheDir() } });
  expect(build.exitCode, build.all).toBe(0);
  lap('building the 4 x86-64 images (gzip)');

  const extensions: Record<string, string> = {};
  for (const name of EXTENSIONS) {
    extensions[name] = (await findImages(path.join(workspace, 'extensions', name, 'dist'), name, 'x86-64')).at(-1)!;
    const { smoke } = await repoManifest(name);
    manifestChecks[name] = { units: smoke.units, commands: smoke.commands };
  }
  const checks: Checks = {
    units: [...EXTENSIONS.flatMap((n) => manifestChecks[n]!.units), 'bakehouse-web.service', 'keepalived.service', 'bakehouse-ntp-server.service', 'chronyd.service'],
    commands: [...EXTENSIONS.flatMap((n) => manifestChecks[n]!.commands), WGET, VIP, SOURCES, TRACKING, TIMESYNCD],
  };
  result = await bootTestbed({ root, extensions, files: FILES, checks, timeoutMs: 300_000, unitWaitSeconds: 90 });
  lap('one nspawn boot with all four');
}, 1_500_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  if (workspace) await rm(workspace, { recursive: true, force: true });
  process.stderr.write(`debian services boot timings: ${JSON.stringify(timings)}\n`);
});

describe('Debian-closure services under systemd (one boot)', () => {
  it('merges all four images and passes every check', () => {
    expect(result.ok, describeFailure(result)).toBe(true);
    for (const name of EXTENSIONS) expect(result.sysext).toMatch(new RegExp(`/usr\\s[\\s\\S]*${name}`));
  });

  it('python: its manifest checks create a venv and pip-install a locally written wheel, offline', () => {
    for (const command of manifestChecks.python!.commands) expect(result.checks.find((c) => c.name === command)?.ok, command).toBe(true);
    expect(result.checks.map((c) => c.output).join('\n')).toMatch(/Successfully installed bakehouse-smoke-1\.0/);
  });

  it('haproxy: the service proxies to a local busybox httpd', () => {
    expect(output(result, WGET)).toBe(WEB_PAGE);
    expect(result.checks.find((c) => c.name === 'haproxy.service')?.ok).toBe(true);
  });

  it('keepalived: the service becomes VRRP master on the link and holds the virtual IP', () => {
    expect(output(result, VIP)).toMatch(/inet 192\.0\.2\.51\/32/);
  });

  it('chrony: chronyd.service selects the local NTP server and tracks it', () => {
    expect(output(result, SOURCES)).toMatch(/^\^\* +127\.0\.0\.1 /m);
    expect(output(result, TRACKING)).toMatch(/^Reference ID +: 7F000001 \(127\.0\.0\.1\)/m);
    expect(output(result, TRACKING)).toMatch(/^Leap status +: Normal/m);
    expect(output(result, TIMESYNCD).split(/\s+/)).toEqual(expect.arrayContaining(['systemd-timesyncd.service', 'ntpd.service']));
  });
});
