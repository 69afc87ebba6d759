import { defineExtension } from '@bakehouse/schema';

/**
 * A throwaway pair beside the service, both with -x (never touching the clock, so it runs
 * without CAP_SYS_TIME, as in a container): a server with `local stratum 8` on 127.0.0.1:11123
 * and a client polling it every second, whose chronyc must show it selected (^*) and tracked.
 */
const SYNC_CHECK = [
  `dir=$(mktemp -d) && trap 'for p in "$dir"/*.pid; do kill "$(cat "$p")" 2>/dev/null; done; rm -rf "$dir"' EXIT`,
  'printf "local stratum 8\\nallow 127.0.0.1\\nbindaddress 127.0.0.1\\nport 11123\\ncmdport 0\\nbindcmdaddress $dir/server/chronyd.sock\\npidfile $dir/server.pid\\n" > "$dir/server.conf"',
  'printf "server 127.0.0.1 port 11123 iburst minpoll 0 maxpoll 0\\nport 0\\ncmdport 0\\nbindcmdaddress $dir/client/chronyd.sock\\npidfile $dir/client.pid\\n" > "$dir/client.conf"',
  // -u root: the pair must not depend on chronyd.service having created _chrony.
  'chronyd -x -u root -f "$dir/server.conf" && chronyd -x -u root -f "$dir/client.conf"',
  'for i in $(seq 40); do chronyc -h "$dir/client/chronyd.sock" -n sources | grep -q "^\\^\\* *127.0.0.1" && break; sleep 0.5; done',
  'chronyc -h "$dir/client/chronyd.sock" -n sources && chronyc -h "$dir/client/chronyd.sock" -n tracking | grep -E "^Reference ID *: 7F000001 \\(127.0.0.1\\)"',
].join(' && ');

export default defineExtension({
  name: 'chrony',
  description: 'chrony NTP client and server (chronyd, chronyc), from Debian, self-contained, with chronyd.service in place of systemd-timesyncd',
  category: 'networking',
  homepage: 'https://chrony-project.org',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['chrony'],
    // Maintainer-script, ifupdown-hook and config-merge tooling that never runs inside the image.
    exclude: ['debconf', 'adduser', 'passwd', 'login.defs', 'base-passwd', 'init-system-helpers', 'sed', 'mount', 'ucf', 'sensible-utils', 'procps', 'iproute2', 'libtext-charwidth-perl', 'libtext-wrapi18n-perl', 'perl-base'],
    // Flatcar's /usr/sbin is its own: the daemon goes to /usr/bin beside chronyc.
    export: [
      { from: '/usr/sbin/chronyd', to: '/usr/bin/chronyd' },
      { from: '/usr/bin/chronyc', to: '/usr/bin/chronyc' },
    ],
  },
  units: {
    'chronyd.service': {
      Unit: {
        Description: 'chrony, an NTP client/server',
        Documentation: 'https://chrony-project.org/documentation.html',
        // One daemon disciplines the clock: starting chronyd stops Flatcar's systemd-timesyncd (and ntpd).
        Conflicts: 'systemd-timesyncd.service ntpd.service',
        After: 'systemd-timesyncd.service ntpd.service network-online.target',
        Wants: 'network-online.target',
        ConditionCapability: 'CAP_SYS_TIME',
      },
      Service: {
        Type: 'forking',
        PIDFile: '/run/chrony/chronyd.pid',
        // Debian's variable: -F 1 is chronyd's seccomp filter; add -x here where the clock must not be set.
        Environment: '"DAEMON_OPTS=-F 1"',
        EnvironmentFile: '-/etc/default/chrony',
        // systemd-sysusers.service is not ordered after systemd-sysext.service, so _chrony may not exist yet;
        // "+": outside ProtectSystem=, which makes /etc read-only.
        ExecStartPre: ['+systemd-sysusers /usr/lib/sysusers.d/chrony.conf', '+systemd-tmpfiles --create /usr/lib/tmpfiles.d/chrony.conf'],
        ExecStart: '/usr/libexec/bakehouse/chronyd $DAEMON_OPTS',
        PrivateTmp: true,
        ProtectHome: true,
        ProtectSystem: 'full',
      },
    },
  },
  enable: ['chronyd.service'],
  sysusers: ['u _chrony - "Chrony daemon" /var/lib/chrony'],
  tmpfiles: [
    'd /var/lib/chrony 0750 _chrony _chrony -',
    'd /var/log/chrony 0750 _chrony _chrony -',
    'd /etc/chrony/conf.d 0755 root root -',
    'd /etc/chrony/sources.d 0755 root root -',
  ],
  release: { id: 'flatcar', compat: 'level', reloadManager: true },
  smoke: {
    commands: [SYNC_CHECK],
    // Setting the clock needs CAP_SYS_TIME, which a container lacks: the service itself is checked in the VM.
    workload: { units: ['chronyd.service'], commands: ['chronyc -n tracking'] },
  },
});
