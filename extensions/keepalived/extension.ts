import { defineExtension } from '@bakehouse/schema';

const PREFIX = '/usr/lib/bakehouse/keepalived';
/** The closure's own iproute2 (keepalived depends on it): the check must not rely on the host's `ip`. */
const IP = `${PREFIX}/usr/bin/ip`;

/**
 * A throwaway VRRP instance beside the service: MASTER on a veth pair of its own (VRRP needs an
 * IPv4 address on the link), holding a documentation address (RFC 5737), which appears on the
 * link once keepalived is master. The links, the daemon and the files are gone afterwards.
 */
const VRRP_CHECK = [
  `dir=$(mktemp -d) && trap 'kill "$(cat "$dir/pid" 2>/dev/null)" 2>/dev/null; sleep 1; ${IP} link del bh-vrrp0 2>/dev/null; rm -rf "$dir"' EXIT`,
  `${IP} link add bh-vrrp0 type veth peer name bh-vrrp1 && ${IP} addr add 198.51.100.1/30 dev bh-vrrp0 && ${IP} link set bh-vrrp0 up && ${IP} link set bh-vrrp1 up`,
  'printf "vrrp_instance BAKEHOUSE_SMOKE {\\n  state MASTER\\n  interface bh-vrrp0\\n  virtual_router_id 201\\n  priority 150\\n  advert_int 1\\n  virtual_ipaddress {\\n    198.51.100.201/32\\n  }\\n}\\n" > "$dir/keepalived.conf"',
  'keepalived --config-test --use-file="$dir/keepalived.conf"',
  'keepalived --vrrp --use-file="$dir/keepalived.conf" --pid="$dir/pid" --vrrp_pid="$dir/vrrp.pid" --log-console',
  `for i in $(seq 40); do ${IP} -4 addr show dev bh-vrrp0 | grep -q "inet 198.51.100.201/32" && exit 0; sleep 0.5; done; exit 1`,
].join(' && ');

export default defineExtension({
  name: 'keepalived',
  description: 'keepalived (VRRP and LVS health checking), from Debian, self-contained, with keepalived.service',
  category: 'networking',
  homepage: 'https://www.keepalived.org',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['keepalived'],
    // Maintainer-script tooling that never runs inside the image.
    exclude: ['debconf', 'adduser', 'passwd', 'login.defs', 'base-passwd', 'init-system-helpers', 'sed', 'mount'],
    // Flatcar's /usr/sbin is its own (bakery #131: an image replacing it stopped hosts from booting): commands go to /usr/bin.
    export: [
      { from: '/usr/sbin/keepalived', to: '/usr/bin/keepalived' },
      { from: '/usr/bin/genhash', to: '/usr/bin/genhash' },
    ],
  },
  units: {
    'keepalived.service': {
      Unit: {
        Description: 'Keepalive Daemon (LVS and VRRP)',
        Documentation: 'https://www.keepalived.org/manpage.html',
        After: 'network-online.target',
        Wants: 'network-online.target',
        // Idle until the operator writes a configuration; keepalived reads this path by default.
        ConditionFileNotEmpty: '/etc/keepalived/keepalived.conf',
      },
      Service: {
        Type: 'notify',
        // Debian's variable for extra options, e.g. DAEMON_ARGS="--vrrp".
        EnvironmentFile: '-/etc/default/keepalived',
        ExecStart: '/usr/bin/keepalived --dont-fork $DAEMON_ARGS',
        ExecReload: '/bin/kill -HUP $MAINPID',
      },
    },
  },
  enable: ['keepalived.service'],
  tmpfiles: [
    'd /etc/keepalived 0755 root root -',
    // Debian's keepalived refuses to start without its build options file at this compiled-in path.
    `L+ /etc/keepalived/keepalived.config-opts - - - - ${PREFIX}/etc/keepalived/keepalived.config-opts`,
  ],
  release: { id: 'flatcar', compat: 'level', reloadManager: true },
  smoke: {
    // keepalived.service is not listed: without /etc/keepalived/keepalived.conf it stays inactive by design.
    commands: ['systemctl show -p LoadState --value keepalived.service | grep -qx loaded', VRRP_CHECK],
  },
});
