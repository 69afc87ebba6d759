import { defineExtension } from '@bakehouse/schema';

const RELEASE = 'https://releases.hashicorp.com/consul/{version}';

export default defineExtension({
  name: 'consul',
  description: 'HashiCorp Consul agent from the official release zip, its SHA256SUMS verified with HashiCorp\'s GPG signature',
  category: 'networking',
  homepage: 'https://www.consul.io',
  upstream: { type: 'github-releases', repo: 'hashicorp/consul' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'consul',
      kind: 'zip',
      url: `${RELEASE}/consul_{version}_linux_{goarch}.zip`,
      // keys/hashicorp.asc: HashiCorp's release key C874 011F 0AB4 0511 0D02 1055 3436 5D94 72D7 468F (see README).
      checksum: { from: 'signed-sha256sums', url: `${RELEASE}/consul_{version}_SHA256SUMS`, signature: `${RELEASE}/consul_{version}_SHA256SUMS.sig`, key: 'keys/hashicorp.asc' },
      extract: [{ from: 'consul', to: '/usr/bin/consul' }],
    },
  ],
  units: {
    // Flatcar may run systemd-sysusers before the image is merged, and User= fails for a user that does not exist
    // (even for a "+" ExecStartPre): this creates it, from the image's own sysusers.d line, before each start.
    'consul-user.service': {
      Unit: { Description: 'Create the consul user for consul.service', Before: 'consul.service' },
      Service: { Type: 'oneshot', ExecStart: '/usr/bin/systemd-sysusers /usr/lib/sysusers.d/consul.conf' },
    },
    'consul.service': {
      Unit: {
        Description: 'HashiCorp Consul agent',
        Documentation: 'https://developer.hashicorp.com/consul/docs',
        Wants: 'network-online.target',
        Requires: 'consul-user.service',
        After: 'network-online.target consul-user.service',
        // Unconfigured, a start (`systemctl enable --now`, a Butane `enabled: true`) is skipped instead of failing.
        ConditionDirectoryNotEmpty: '/etc/consul.d',
      },
      Service: {
        User: 'consul',
        Group: 'consul',
        EnvironmentFile: '-/etc/consul.d/consul.env',
        ExecStart: '/usr/bin/consul agent -config-dir=/etc/consul.d -data-dir=/var/lib/consul',
        ExecReload: '/usr/bin/kill -HUP $MAINPID',
        StateDirectory: 'consul',
        StateDirectoryMode: '0750',
        KillMode: 'process',
        KillSignal: 'SIGTERM',
        Restart: 'on-failure',
        RestartSec: 2,
        LimitNOFILE: 65536,
      },
      // Not started by the image itself, as HashiCorp's own packages leave it: the operator enables it with its configuration.
      Install: { WantedBy: 'multi-user.target' },
    },
  },
  sysusers: ['u consul - "HashiCorp Consul" /var/lib/consul'],
  release: { id: 'flatcar', compat: 'level' },
  smoke: {
    commands: [
      // Enabling it unconfigured is safe: the start is skipped on the unit's condition, no unit fails.
      'systemctl enable --now consul.service && test "$(systemctl show -P ConditionResult consul.service)" = no && test "$(systemctl is-active consul.service)" = inactive',
      'systemd-run --unit=bakehouse-consul-dev /usr/bin/consul agent -dev -bind=127.0.0.1 -client=127.0.0.1',
      'for i in $(seq 60); do consul members 2>/dev/null | grep -q alive && exit 0; sleep 1; done; consul members; exit 1',
      'systemctl stop bakehouse-consul-dev.service',
    ],
  },
});
