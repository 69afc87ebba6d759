import { defineExtension } from '@bakehouse/schema';

const CONFIG = '/etc/nebula/config.yml';
const INTERFACE = 'nebula1';
const LIGHTHOUSE_IP = '192.168.100.1';

/** A lighthouse on loopback, its firewall letting ICMP in: the smallest config an operator would run. */
const LIGHTHOUSE_CONFIG = [
  'pki:',
  '  ca: /etc/nebula/ca.crt',
  '  cert: /etc/nebula/host.crt',
  '  key: /etc/nebula/host.key',
  'static_host_map: {}',
  'lighthouse:',
  '  am_lighthouse: true',
  'listen:',
  '  host: 127.0.0.1',
  '  port: 4242',
  'tun:',
  `  dev: ${INTERFACE}`,
  'firewall:',
  '  outbound:',
  '    - {port: any, proto: any, host: any}',
  '  inbound:',
  '    - {port: any, proto: icmp, host: any}',
];

export default defineExtension({
  name: 'nebula',
  description: 'Nebula overlay networking (nebula and nebula-cert) with nebula.service for /etc/nebula/config.yml, from Debian, self-contained',
  category: 'networking',
  homepage: 'https://github.com/slackhq/nebula',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['nebula'],
    export: [
      { from: '/usr/bin/nebula', to: '/usr/bin/nebula' },
      { from: '/usr/bin/nebula-cert', to: '/usr/bin/nebula-cert' },
    ],
  },
  units: {
    'nebula.service': {
      Unit: {
        Description: 'Nebula overlay network',
        Documentation: 'https://nebula.defined.net/docs/',
        // Without a config the host has no overlay to join: the unit stays inactive instead of failing.
        ConditionPathExists: CONFIG,
        Wants: 'basic.target network-online.target',
        After: 'basic.target network.target network-online.target',
      },
      Service: {
        Type: 'notify',
        NotifyAccess: 'main',
        ExecStartPre: `/usr/bin/nebula -test -config ${CONFIG}`,
        ExecStart: `/usr/bin/nebula -config ${CONFIG}`,
        ExecReload: '/bin/kill -HUP $MAINPID',
        Restart: 'always',
        SyslogIdentifier: 'nebula',
      },
    },
  },
  enable: ['nebula.service'],
  release: { id: 'flatcar', compat: 'level', reloadManager: true },
  smoke: {
    units: [],
    commands: [
      `systemctl show -p ActiveState -p ConditionResult nebula.service | sort | tr '\\n' ' ' | grep -x 'ActiveState=inactive ConditionResult=no '`,
      `mkdir -p /etc/nebula && cd /etc/nebula && nebula-cert ca -name bakehouse-test && nebula-cert sign -name lighthouse -ip ${LIGHTHOUSE_IP}/24 -out-crt host.crt -out-key host.key && nebula-cert verify -ca ca.crt -crt host.crt`,
      `printf '%s\\n' ${LIGHTHOUSE_CONFIG.map((line) => `'${line}'`).join(' ')} > ${CONFIG} && nebula -test -config ${CONFIG}`,
      // The tun device is there (VM, or nspawn with its private network): the lighthouse comes up with its overlay address.
      `systemctl start nebula.service && systemctl is-active nebula.service && test "$(cat /sys/class/net/${INTERFACE}/operstate)" != down && grep -q ' ${LIGHTHOUSE_IP}$' /proc/net/fib_trie`,
    ],
  },
});
