import { defineExtension } from '@bakehouse/schema';

const RELEASE = 'https://releases.hashicorp.com/nomad/{version}';

export default defineExtension({
  name: 'nomad',
  description: 'HashiCorp Nomad agent from the official release zip, its SHA256SUMS verified with HashiCorp\'s GPG signature',
  category: 'tools',
  homepage: 'https://www.nomadproject.io',
  upstream: { type: 'github-releases', repo: 'hashicorp/nomad' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'nomad',
      kind: 'zip',
      url: `${RELEASE}/nomad_{version}_linux_{goarch}.zip`,
      // keys/hashicorp.asc: HashiCorp's release key C874 011F 0AB4 0511 0D02 1055 3436 5D94 72D7 468F (see README).
      checksum: { from: 'signed-sha256sums', url: `${RELEASE}/nomad_{version}_SHA256SUMS`, signature: `${RELEASE}/nomad_{version}_SHA256SUMS.sig`, key: 'keys/hashicorp.asc' },
      extract: [{ from: 'nomad', to: '/usr/bin/nomad' }],
    },
  ],
  units: {
    'nomad.service': {
      Unit: {
        Description: 'HashiCorp Nomad agent',
        Documentation: 'https://developer.hashicorp.com/nomad/docs',
        Wants: 'network-online.target',
        After: 'network-online.target',
        // Unconfigured, a start (`systemctl enable --now`, a Butane `enabled: true`) is skipped instead of failing.
        ConditionDirectoryNotEmpty: '/etc/nomad.d',
      },
      // As root: a Nomad client creates cgroups, mounts task directories and starts tasks as other users.
      Service: {
        EnvironmentFile: '-/etc/nomad.d/nomad.env',
        ExecStart: '/usr/bin/nomad agent -config=/etc/nomad.d -data-dir=/var/lib/nomad',
        ExecReload: '/usr/bin/kill -HUP $MAINPID',
        StateDirectory: 'nomad',
        StateDirectoryMode: '0700',
        // Tasks live in their own cgroups and survive an agent restart; SIGINT makes the agent leave gracefully.
        KillMode: 'process',
        KillSignal: 'SIGINT',
        Restart: 'on-failure',
        RestartSec: 2,
        LimitNOFILE: 65536,
        LimitNPROC: 'infinity',
        TasksMax: 'infinity',
        OOMScoreAdjust: -1000,
      },
      // Not started by the image itself, as HashiCorp's own packages leave it: the operator enables it with its configuration.
      Install: { WantedBy: 'multi-user.target' },
    },
  },
  release: { id: 'flatcar', compat: 'level' },
  smoke: {
    commands: [
      // Enabling it unconfigured is safe: the start is skipped on the unit's condition, no unit fails.
      'systemctl enable --now nomad.service && test "$(systemctl show -P ConditionResult nomad.service)" = no && test "$(systemctl is-active nomad.service)" = inactive',
    ],
    // The dev agent is also a client, which puts tasks in cgroups: a real kernel's job, so the VM testbed runs it.
    workload: {
      commands: [
        'systemd-run --unit=bakehouse-nomad-dev /usr/bin/nomad agent -dev -bind=127.0.0.1',
        'for i in $(seq 90); do nomad node status 2>/dev/null | grep -qw ready && exit 0; sleep 1; done; nomad node status; exit 1',
        'systemctl stop bakehouse-nomad-dev.service',
      ],
    },
  },
});
