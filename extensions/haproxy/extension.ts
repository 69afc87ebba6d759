import { defineExtension } from '@bakehouse/schema';

const WRAPPER = '/usr/libexec/bakehouse/haproxy';

/**
 * A throwaway instance beside the service, on loopback ports of its own: one listener proxies
 * to another that answers with a fixed page, and bash's /dev/tcp (present on Flatcar and in the
 * testbed alike) fetches it through the proxy.
 */
const PROXY_CHECK = [
  'dir=$(mktemp -d) && trap \'kill "$(cat "$dir/pid")" 2>/dev/null; rm -rf "$dir"\' EXIT',
  'printf "defaults\\n  mode http\\n  timeout connect 2s\\n  timeout client 5s\\n  timeout server 5s\\nlisten front\\n  bind 127.0.0.1:18080\\n  server page 127.0.0.1:18081\\nlisten page\\n  bind 127.0.0.1:18081\\n  http-request return status 200 content-type text/plain string proxied-by-haproxy\\n" > "$dir/haproxy.cfg"',
  'haproxy -D -f "$dir/haproxy.cfg" -p "$dir/pid"',
  'bash -c \'exec 3<>/dev/tcp/127.0.0.1/18080 && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && grep -q proxied-by-haproxy <&3\'',
].join(' && ');

export default defineExtension({
  name: 'haproxy',
  description: 'HAProxy load balancer and proxy, from Debian, self-contained, with haproxy.service',
  category: 'networking',
  homepage: 'https://www.haproxy.org',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['haproxy'],
    // Maintainer-script and sysvinit tooling that never runs inside the image.
    exclude: ['debconf', 'adduser', 'passwd', 'login.defs', 'base-passwd', 'init-system-helpers', 'sed', 'mount', 'lsb-base', 'sysvinit-utils'],
    // Flatcar's /usr/sbin is its own: the commands go to /usr/bin.
    export: [
      { from: '/usr/sbin/haproxy', to: '/usr/bin/haproxy' },
      { from: '/usr/sbin/halog', to: '/usr/bin/halog' },
    ],
  },
  units: {
    'haproxy.service': {
      Unit: {
        Description: 'HAProxy Load Balancer',
        Documentation: 'https://docs.haproxy.org',
        After: 'network-online.target',
        Wants: 'network-online.target',
      },
      Service: {
        // Debian's variables: CONFIG, PIDFILE and EXTRAOPTS may be set in /etc/default/haproxy.
        EnvironmentFile: '-/etc/default/haproxy',
        Environment: '"PIDFILE=/run/haproxy.pid" "EXTRAOPTS=-S /run/haproxy-master.sock"',
        // systemd-sysusers.service is not ordered after systemd-sysext.service, so the user may not exist yet.
        ExecStartPre: ['systemd-sysusers /usr/lib/sysusers.d/haproxy.conf', 'systemd-tmpfiles --create /usr/lib/tmpfiles.d/haproxy.conf'],
        ExecStart: `${WRAPPER} -Ws -p $PIDFILE $EXTRAOPTS`,
        ExecReload: [`${WRAPPER} -Ws -c -q $EXTRAOPTS`, '/bin/kill -USR2 $MAINPID'],
        KillMode: 'mixed',
        Restart: 'always',
        SuccessExitStatus: 143,
        Type: 'notify',
      },
    },
  },
  enable: ['haproxy.service'],
  sysusers: ['u haproxy - "HAProxy" /var/lib/haproxy'],
  tmpfiles: ['d /run/haproxy 2775 haproxy haproxy -', 'd /var/lib/haproxy 0755 root root -'],
  release: { id: 'flatcar', compat: 'level', reloadManager: true },
  smoke: {
    units: ['haproxy.service'],
    commands: [`${WRAPPER} -c`, PROXY_CHECK],
  },
});
