import { defineExtension } from '@bakehouse/schema';

const RELEASE = 'https://github.com/k3s-io/k3s/releases/download/v{version}';

export default defineExtension({
  name: 'k3s',
  description: 'k3s, a single-binary Kubernetes distribution with its own containerd, and k3s.service running a server',
  category: 'kubernetes',
  homepage: 'https://k3s.io',
  // Tags are v1.35.0+k3s1: the build metadata numbers k3s' rebuilds of one Kubernetes release and orders them.
  upstream: { type: 'github-releases', repo: 'k3s-io/k3s' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'k3s',
      kind: 'file',
      url: { 'x86-64': `${RELEASE}/k3s`, arm64: `${RELEASE}/k3s-arm64` },
      checksum: { from: 'sha256sums', url: `${RELEASE}/sha256sum-{goarch}.txt` },
      extract: [{ to: '/usr/bin/k3s', mode: 0o755 }],
    },
  ],
  // As upstream's install script writes it, with the binary in /usr/bin (Flatcar's /usr/local is not part of /usr's overlay).
  units: {
    'k3s.service': {
      Unit: {
        Description: 'Lightweight Kubernetes',
        Documentation: 'https://k3s.io',
        Wants: 'network-online.target',
        After: 'network-online.target',
      },
      Service: {
        Type: 'notify',
        EnvironmentFile: ['-/etc/default/%N', '-/etc/sysconfig/%N', '-/etc/systemd/system/k3s.service.env'],
        // KillMode=process: stopping or restarting k3s leaves the containerd shims, so pods keep running.
        KillMode: 'process',
        Delegate: true,
        User: 'root',
        LimitNOFILE: 1048576,
        LimitNPROC: 'infinity',
        LimitCORE: 'infinity',
        TasksMax: 'infinity',
        TimeoutStartSec: 0,
        Restart: 'always',
        RestartSec: '5s',
        ExecStartPre: ['-/sbin/modprobe br_netfilter', '-/sbin/modprobe overlay'],
        ExecStart: '/usr/bin/k3s server',
      },
    },
  },
  enable: ['k3s.service'],
  release: { id: 'flatcar', compat: 'level' },
  // files/usr/bin links kubectl and crictl to k3s, as k3s' installer does; both are also in the kubernetes image.
  conflicts: { extensions: ['kubernetes'] },
  smoke: {
    units: [],
    commands: ['k3s --version', 'systemctl cat k3s.service'],
    workload: {
      units: ['k3s.service'],
      commands: [
        // The API server answers before the node is Ready; readyz needs no images, so it holds offline too.
        'for i in $(seq 150); do [ "$(k3s kubectl get --raw /readyz 2>/dev/null)" = ok ] && exit 0; sleep 2; done; k3s kubectl get --raw "/readyz?verbose"; exit 1',
        'test "$(kubectl get --raw /livez)" = ok',
        'crictl version',
      ],
    },
  },
});
