import { defineExtension } from '@bakehouse/schema';

/** Where the bundle's runtimes and conmon go: private to cri-o, so they shadow no other image's runc. */
const LIBEXEC = '/usr/libexec/crio';
const ENDPOINT = 'unix:///var/run/crio/crio.sock';

export default defineExtension({
  name: 'cri-o',
  description: 'CRI-O, the Kubernetes container runtime, with its own conmon, crun, runc, crictl and CNI plugins, from the upstream static bundle',
  category: 'container-runtimes',
  homepage: 'https://cri-o.io',
  upstream: { type: 'github-releases', repo: 'cri-o/cri-o' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'cri-o',
      kind: 'tar.gz',
      // Where cri-o's release notes link the bundle (and kubespray downloads it); the GitHub release attaches the same files.
      url: 'https://storage.googleapis.com/cri-o/artifacts/cri-o.{goarch}.v{version}.tar.gz',
      checksum: { from: 'file', url: '{url}.sha256sum' },
      extract: [
        { from: 'cri-o/bin/crio', to: '/usr/bin/crio' },
        { from: 'cri-o/bin/pinns', to: '/usr/bin/pinns' },
        { from: 'cri-o/bin/crictl', to: '/usr/bin/crictl' },
        { from: 'cri-o/bin/conmon', to: `${LIBEXEC}/conmon` },
        { from: 'cri-o/bin/conmonrs', to: `${LIBEXEC}/conmonrs` },
        { from: 'cri-o/bin/crun', to: `${LIBEXEC}/crun` },
        { from: 'cri-o/bin/runc', to: `${LIBEXEC}/runc` },
        { from: 'cri-o/cni-plugins/', to: `${LIBEXEC}/cni/` },
        { from: 'cri-o/contrib/policy.json', to: '/usr/share/crio/policy.json' },
      ],
    },
  ],
  // As upstream's crio.service (cri-o/packaging), with the binary in /usr/bin and our config as the default.
  units: {
    'crio.service': {
      Unit: {
        Description: 'Container Runtime Interface for OCI (CRI-O)',
        Documentation: 'https://github.com/cri-o/cri-o',
        Wants: 'network-online.target',
        Before: 'kubelet.service',
        After: 'network-online.target',
      },
      Service: {
        Type: 'notify',
        // Upstream's names: CRIO_*_OPTIONS set in /etc/sysconfig/crio or a drop-in replace these.
        Environment: ['GOTRACEBACK=crash', 'CRIO_CONFIG_OPTIONS=--config=/usr/share/crio/crio.conf'],
        EnvironmentFile: '-/etc/sysconfig/crio',
        ExecStart: '/usr/bin/crio $CRIO_CONFIG_OPTIONS $CRIO_RUNTIME_OPTIONS $CRIO_STORAGE_OPTIONS $CRIO_NETWORK_OPTIONS $CRIO_METRICS_OPTIONS',
        ExecReload: '/bin/kill -s HUP $MAINPID',
        TasksMax: 'infinity',
        LimitNOFILE: 1048576,
        LimitNPROC: 1048576,
        LimitCORE: 'infinity',
        OOMScoreAdjust: -999,
        TimeoutStartSec: 0,
        Restart: 'on-failure',
        RestartSec: 10,
      },
    },
  },
  enable: ['crio.service'],
  release: { id: 'flatcar', compat: 'level' },
  // kubernetes and k3s carry their own /usr/bin/crictl (and are set up for containerd's socket).
  conflicts: { extensions: ['kubernetes', 'k3s'] },
  smoke: {
    commands: ['crio --version', 'crictl --version'],
    workload: {
      units: ['crio.service'],
      commands: [
        `crictl --runtime-endpoint ${ENDPOINT} info`,
        `crictl --runtime-endpoint ${ENDPOINT} info | grep -A1 '"type": "RuntimeReady"' | grep -q '"status": true'`,
        `crictl --runtime-endpoint ${ENDPOINT} version | grep -Eq '^RuntimeName: +cri-o$'`,
      ],
    },
  },
});
