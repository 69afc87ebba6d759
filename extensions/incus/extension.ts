import { defineExtension } from '@bakehouse/schema';

const PREFIX = '/usr/lib/bakehouse/incus';
/** incusd runs rsync, ip, nft, dnsmasq, unsquashfs, tar2sqfs, xz and setfattr by name: the closure's come first. */
const DAEMON_PATH = [`${PREFIX}/usr/libexec/incus`, `${PREFIX}/usr/sbin`, `${PREFIX}/usr/bin`, '/usr/sbin', '/usr/bin'].join(':');

/**
 * A system container from an image built on the spot, offline: busybox (the testbed's
 * busybox-static) as its rootfs, a metadata.yaml, imported as a unified tarball.
 */
const BUILD_IMAGE = [
  'rm -rf /tmp/incus-image && mkdir -p /tmp/incus-image/rootfs/bin /tmp/incus-image/rootfs/sbin /tmp/incus-image/rootfs/etc /tmp/incus-image/rootfs/dev /tmp/incus-image/rootfs/proc /tmp/incus-image/rootfs/sys /tmp/incus-image/rootfs/tmp /tmp/incus-image/rootfs/run',
  'cp "$(command -v busybox)" /tmp/incus-image/rootfs/bin/busybox',
  'for applet in sh echo cat ls sleep hostname; do ln -s busybox /tmp/incus-image/rootfs/bin/$applet; done',
  'ln -s ../bin/busybox /tmp/incus-image/rootfs/sbin/init',
  'printf "::sysinit:/bin/hostname -F /etc/hostname\\n::respawn:/bin/sleep 3600\\n" > /tmp/incus-image/rootfs/etc/inittab',
  'printf "architecture: %s\\ncreation_date: 1700000000\\nproperties:\\n  os: busybox\\n  description: bakehouse test image\\n" "$(uname -m)" > /tmp/incus-image/metadata.yaml',
  'tar -C /tmp/incus-image --numeric-owner -czf /tmp/incus-busybox.tar.gz metadata.yaml rootfs',
].join(' && ');

export default defineExtension({
  name: 'incus',
  description: 'Incus system containers (incusd, the incus client, liblxc, lxcfs, dnsmasq, nftables) from Debian, self-contained; state in /var/lib/incus',
  category: 'container-runtimes',
  homepage: 'https://linuxcontainers.org/incus/',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    // incus-base is the daemon for system containers; Debian's "incus" adds QEMU for virtual machines, which this image leaves out.
    packages: ['incus-base', 'incus-client', 'lxcfs', 'dnsmasq-base'],
    // Maintainer-script and init-system tooling (the units are this manifest's), and CA certificates Flatcar already has in /etc/ssl.
    exclude: ['systemd', 'runit-helper', 'init-system-helpers', 'debconf', 'adduser', 'passwd', 'login.defs', 'base-passwd', 'ca-certificates', 'openssl', 'dns-root-data', 'sed', 'mount'],
    prefix: PREFIX,
    versionOf: 'incus-base',
    export: [
      { from: '/usr/bin/incus', to: '/usr/bin/incus' },
      { from: '/usr/libexec/incus/incusd', to: '/usr/libexec/incus/incusd' },
      { from: '/usr/bin/lxcfs', to: '/usr/bin/lxcfs' },
      // lxcfs dlopen()s its library by this compiled-in absolute path.
      { from: '/usr/lib/{triplet}/lxcfs/liblxcfs.so', to: '/usr/lib/{triplet}/lxcfs/liblxcfs.so' },
    ],
    // liblxc mounts a container's rootfs onto this compiled-in path.
    mountPoints: ['/usr/lib/{triplet}/lxc/rootfs'],
  },
  units: {
    'incus.socket': {
      Unit: { Description: 'Incus - Daemon (unix socket)', Documentation: 'https://linuxcontainers.org/incus/docs/main/' },
      Socket: {
        // A runtime merge comes after boot's sysusers and tmpfiles runs: the group the socket belongs to must exist before it binds.
        ExecStartPre: ['/usr/bin/systemd-sysusers incus.conf', '/usr/bin/systemd-tmpfiles --create incus.conf'],
        FileDescriptorName: 'unix',
        ListenStream: '/var/lib/incus/unix.socket',
        SocketGroup: 'incus-admin',
        SocketMode: '0660',
        Service: 'incus.service',
      },
    },
    'incus.service': {
      Unit: {
        Description: 'Incus - Main daemon',
        Documentation: 'https://linuxcontainers.org/incus/docs/main/',
        After: 'network-online.target lxcfs.service incus.socket',
        Requires: 'incus.socket',
        // Containers get lxcfs' views of /proc when it runs; incusd does not need it to start (Debian requires it).
        Wants: 'network-online.target lxcfs.service',
      },
      Service: {
        Environment: `PATH=${DAEMON_PATH}`,
        ExecStartPre: '/usr/libexec/bakehouse/incus-setup',
        ExecStart: '/usr/libexec/incus/incusd --group incus-admin --logfile=/var/log/incus/incus.log',
        ExecStartPost: '/usr/libexec/incus/incusd waitready --timeout=600',
        KillMode: 'process',
        TimeoutStartSec: '600s',
        TimeoutStopSec: '330s',
        Restart: 'on-failure',
        LimitNOFILE: 1048576,
        LimitNPROC: 'infinity',
        TasksMax: 'infinity',
        Delegate: true,
      },
    },
    // Starts the daemon at boot only when instances want to autostart, and stops them cleanly at shutdown.
    'incus-startup.service': {
      Unit: { Description: 'Incus - Startup check', Documentation: 'https://linuxcontainers.org/incus/docs/main/', After: 'incus.socket incus.service', Requires: 'incus.socket' },
      Service: {
        Type: 'oneshot',
        Environment: `PATH=${DAEMON_PATH}`,
        ExecStart: '/usr/libexec/incus/incusd activateifneeded',
        ExecStop: '/usr/libexec/incus/incusd shutdown',
        TimeoutStartSec: '600s',
        TimeoutStopSec: '600s',
        RemainAfterExit: true,
      },
    },
    'lxcfs.service': {
      Unit: { Description: 'FUSE filesystem for LXC', Documentation: 'https://linuxcontainers.org/lxcfs/', ConditionVirtualization: '!container', Before: 'incus.service' },
      Service: {
        OOMScoreAdjust: -1000,
        ExecStartPre: '/bin/mkdir -p /var/lib/lxcfs',
        ExecStart: '/usr/bin/lxcfs /var/lib/lxcfs',
        KillMode: 'process',
        Restart: 'on-failure',
        ExecStopPost: `-${PREFIX}/usr/bin/fusermount3 -u /var/lib/lxcfs`,
        Delegate: true,
        ExecReload: '/bin/kill -USR1 $MAINPID',
      },
    },
  },
  enable: ['incus.socket', 'incus-startup.service'],
  sysusers: ['g incus -', 'g incus-admin -'],
  tmpfiles: ['d /var/lib/incus 0711 root root -', 'd /var/log/incus 0700 root root -'],
  release: { id: 'flatcar', compat: 'level', reloadManager: true },
  // Flatcar's own optional incus extension ships the same commands and units.
  conflicts: { builtins: ['flatcar-incus'] },
  smoke: {
    units: ['incus.socket'],
    commands: ['incus --version', 'systemctl cat incus.service incus-startup.service lxcfs.service'],
    workload: {
      commands: [
        // Socket activation: the first client call starts incusd.
        'incus admin init --minimal && systemctl is-active incus.service',
        'incus storage show default | grep -x "driver: dir" && incus network show incusbr0 | grep -x "managed: true"',
        BUILD_IMAGE,
        'incus image import /tmp/incus-busybox.tar.gz --alias bakehouse-busybox && incus image list --format csv | grep bakehouse-busybox',
        'incus launch bakehouse-busybox c1 || { incus info --show-log c1; cat /var/log/incus/c1/lxc.log; false; }',
        'test "$(incus exec c1 -- echo bakehouse-incus-ok)" = bakehouse-incus-ok',
      ],
    },
  },
});
