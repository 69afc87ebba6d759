import { defineExtension } from '@bakehouse/schema';

const RELEASE = 'https://releases.hashicorp.com/vault/{version}';

export default defineExtension({
  name: 'vault',
  description: 'HashiCorp Vault server and CLI from the official release zip, its SHA256SUMS verified with HashiCorp\'s GPG signature',
  category: 'tools',
  homepage: 'https://www.vaultproject.io',
  upstream: { type: 'github-releases', repo: 'hashicorp/vault' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'vault',
      kind: 'zip',
      url: `${RELEASE}/vault_{version}_linux_{goarch}.zip`,
      // keys/hashicorp.asc: HashiCorp's release key C874 011F 0AB4 0511 0D02 1055 3436 5D94 72D7 468F (see README).
      checksum: { from: 'signed-sha256sums', url: `${RELEASE}/vault_{version}_SHA256SUMS`, signature: `${RELEASE}/vault_{version}_SHA256SUMS.sig`, key: 'keys/hashicorp.asc' },
      extract: [{ from: 'vault', to: '/usr/bin/vault' }],
    },
  ],
  units: {
    // Flatcar may run systemd-sysusers before the image is merged, and User= fails for a user that does not exist
    // (even for a "+" ExecStartPre): this creates it, from the image's own sysusers.d line, before each start.
    'vault-user.service': {
      Unit: { Description: 'Create the vault user for vault.service', Before: 'vault.service' },
      Service: { Type: 'oneshot', ExecStart: '/usr/bin/systemd-sysusers /usr/lib/sysusers.d/vault.conf' },
    },
    'vault.service': {
      Unit: {
        Description: 'HashiCorp Vault server',
        Documentation: 'https://developer.hashicorp.com/vault/docs',
        Wants: 'network-online.target',
        Requires: 'vault-user.service',
        After: 'network-online.target vault-user.service',
        // Unconfigured, a start (`systemctl enable --now`, a Butane `enabled: true`) is skipped instead of failing.
        ConditionPathExists: '/etc/vault.d/vault.hcl',
        StartLimitIntervalSec: 60,
        StartLimitBurst: 3,
      },
      Service: {
        // Vault tells systemd when it is listening.
        Type: 'notify',
        User: 'vault',
        Group: 'vault',
        EnvironmentFile: '-/etc/vault.d/vault.env',
        ExecStart: '/usr/bin/vault server -config=/etc/vault.d/vault.hcl',
        ExecReload: '/usr/bin/kill -HUP $MAINPID',
        // For integrated (raft) or file storage: `path = "/var/lib/vault"` in vault.hcl.
        StateDirectory: 'vault',
        StateDirectoryMode: '0700',
        // mlock keeps secrets out of swap; nothing else is granted.
        AmbientCapabilities: 'CAP_IPC_LOCK',
        CapabilityBoundingSet: 'CAP_IPC_LOCK',
        LimitMEMLOCK: 'infinity',
        NoNewPrivileges: true,
        ProtectSystem: 'full',
        ProtectHome: 'read-only',
        PrivateTmp: true,
        PrivateDevices: true,
        KillMode: 'process',
        KillSignal: 'SIGINT',
        Restart: 'on-failure',
        RestartSec: 5,
        TimeoutStopSec: 30,
        LimitNOFILE: 65536,
      },
      // Not started by the image itself, as HashiCorp's own packages leave it: the operator enables it with its configuration.
      Install: { WantedBy: 'multi-user.target' },
    },
  },
  sysusers: ['u vault - "HashiCorp Vault" /var/lib/vault'],
  release: { id: 'flatcar', compat: 'level' },
  smoke: {
    commands: [
      // Enabling it unconfigured is safe: the start is skipped on the unit's condition, no unit fails.
      'systemctl enable --now vault.service && test "$(systemctl show -P ConditionResult vault.service)" = no && test "$(systemctl is-active vault.service)" = inactive',
      'systemd-run --unit=bakehouse-vault-dev --setenv=HOME=/root /usr/bin/vault server -dev -dev-listen-address=127.0.0.1:8200',
      // A dev server starts initialised and unsealed: `vault status` exits 0 only then.
      'export VAULT_ADDR=http://127.0.0.1:8200; for i in $(seq 60); do vault status >/dev/null 2>&1 && break; sleep 1; done; vault status | grep -Eq "^Sealed +false"',
      'systemctl stop bakehouse-vault-dev.service',
    ],
  },
});
