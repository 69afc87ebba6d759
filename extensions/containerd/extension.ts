import { defineExtension } from '@bakehouse/schema';

export default defineExtension({
  name: 'containerd',
  description: 'containerd container runtime with runc, from the upstream static release',
  homepage: 'https://containerd.io',
  version: '2.3.4',
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'containerd',
      kind: 'tar.gz',
      url: 'https://github.com/containerd/containerd/releases/download/v{version}/containerd-static-{version}-linux-{goarch}.tar.gz',
      sha256: {
        'x86-64': '1d0eccd52471ab75e8d4645b538f73dc635f905cd2be776366eb1036a0089595',
        arm64: 'ad21f456a69bca9c183a8bde892a7576d5d09ae88b3e376a47bde4a886037ab3',
      },
      extract: [
        { from: 'bin/containerd', to: '/usr/bin/containerd' },
        { from: 'bin/containerd-shim-runc-v2', to: '/usr/bin/containerd-shim-runc-v2' },
        { from: 'bin/ctr', to: '/usr/bin/ctr' },
      ],
    },
    {
      name: 'runc',
      kind: 'file',
      version: '1.4.3',
      url: 'https://github.com/opencontainers/runc/releases/download/v{version}/runc.{goarch}',
      sha256: {
        'x86-64': 'f6ae8efc0fa40079e1475e97cbe9d1bd3f106a28d6af78a11d9f1bd565515e60',
        arm64: '633301e2e32f8a5ad54031aab4901eb00308bec677dd15faa2751e8f9dab5ca4',
      },
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
