import { defineExtension } from '@bakehouse/schema';

export default defineExtension({
  name: 'containerd',
  description: 'containerd container runtime with runc, from the upstream static release',
  homepage: 'https://containerd.io',
  upstream: { type: 'github-releases', repo: 'containerd/containerd' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'containerd',
      kind: 'tar.gz',
      url: 'https://github.com/containerd/containerd/releases/download/v{version}/containerd-static-{version}-linux-{goarch}.tar.gz',
      checksum: { from: 'file', url: '{url}.sha256sum' },
      extract: [
        { from: 'bin/containerd', to: '/usr/bin/containerd' },
        { from: 'bin/containerd-shim-runc-v2', to: '/usr/bin/containerd-shim-runc-v2' },
        { from: 'bin/ctr', to: '/usr/bin/ctr' },
      ],
    },
    {
      name: 'runc',
      kind: 'file',
      url: 'https://github.com/opencontainers/runc/releases/download/v{version}/runc.{goarch}',
      versionFrom: { source: { type: 'github-releases', repo: 'opencontainers/runc' } },
      checksum: { from: 'sha256sums', url: 'https://github.com/opencontainers/runc/releases/download/v{version}/runc.sha256sum' },
      extract: [{ to: '/usr/bin/runc', mode: 0o755 }],
    },
  ],
  units: {
    'containerd.service': {
      Unit: {
        Description: 'containerd container runtime',
        Documentation: 'https://containerd.io',
        After: 'network.target local-fs.target',
      },
      Service: {
        ExecStartPre: '-/sbin/modprobe overlay',
        ExecStart: '/usr/bin/containerd --config /usr/share/containerd/config.toml',
        Type: 'notify',
        Delegate: true,
        KillMode: 'process',
        Restart: 'always',
        RestartSec: 5,
        LimitNPROC: 'infinity',
        LimitCORE: 'infinity',
        TasksMax: 'infinity',
        OOMScoreAdjust: -999,
      },
    },
  },
  enable: ['containerd.service'],
  release: { id: 'flatcar', compat: 'level' },
  conflicts: { builtins: ['containerd-flatcar'] },
  smoke: {
    units: ['containerd.service'],
    commands: ['ctr version'],
  },
});
