import { defineExtension } from '@bakehouse/schema';

const BINARIES = ['kubeadm', 'kubelet', 'kubectl'];

/** The plugins in upstream's cni-plugins tarball; a missing one fails the build, so a layout change is noticed. */
const CNI_PLUGINS = ['bandwidth', 'bridge', 'dhcp', 'dummy', 'firewall', 'host-device', 'host-local', 'ipvlan', 'loopback', 'macvlan', 'portmap', 'ptp', 'sbr', 'static', 'tap', 'tuning', 'vlan', 'vrf'];

/** /usr is read-only and /opt/cni/bin must stay writable for network add-ons, so the image links its plugins there. */
const CNI_DIR = '/usr/libexec/cni';

export default defineExtension({
  name: 'kubernetes',
  description: 'kubeadm, kubelet and kubectl with the CNI plugins and crictl; one image per supported minor line',
  category: 'kubernetes',
  homepage: 'https://kubernetes.io',
  upstream: { type: 'kubernetes-stable' },
  // bump follows upstream's support window; extension.lock.json records the lines.
  lineSource: { type: 'kubernetes-schedule' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    ...BINARIES.map((binary) => ({
      name: binary,
      kind: 'file' as const,
      url: `https://dl.k8s.io/release/v{version}/bin/linux/{goarch}/${binary}`,
      checksum: { from: 'file' as const, url: '{url}.sha256' },
      extract: [{ to: `/usr/bin/${binary}`, mode: 0o755 }],
    })),
    {
      name: 'cni-plugins',
      kind: 'tar.gz',
      url: 'https://github.com/containernetworking/plugins/releases/download/v{version}/cni-plugins-linux-{goarch}-v{version}.tgz',
      versionFrom: { source: { type: 'github-releases', repo: 'containernetworking/plugins' } },
      checksum: { from: 'file', url: '{url}.sha256' },
      extract: CNI_PLUGINS.map((plugin) => ({ from: plugin, to: `${CNI_DIR}/${plugin}` })),
    },
    {
      name: 'crictl',
      kind: 'tar.gz',
      url: 'https://github.com/kubernetes-sigs/cri-tools/releases/download/v{version}/crictl-v{version}-linux-{goarch}.tar.gz',
      versionFrom: { source: { type: 'github-releases', repo: 'kubernetes-sigs/cri-tools' }, range: '~{line}' },
      checksum: { from: 'file', url: '{url}.sha256' },
      extract: [{ from: 'crictl', to: '/usr/bin/crictl' }],
    },
  ],
  units: {
    'kubelet.service': {
      Unit: {
        Description: 'kubelet: The Kubernetes Node Agent',
        Documentation: 'https://kubernetes.io/docs/',
        Wants: 'network-online.target',
        After: 'network-online.target containerd.service',
      },
      Service: { ExecStart: '/usr/bin/kubelet', Restart: 'always', StartLimitIntervalSec: 0, RestartSec: 10 },
    },
  },
  enable: ['kubelet.service'],
  tmpfiles: ['d /opt/cni/bin 0755 - - -', ...CNI_PLUGINS.map((plugin) => `L /opt/cni/bin/${plugin} - - - - ${CNI_DIR}/${plugin}`)],
  release: { id: 'flatcar', compat: 'level' },
  requires: [{ anyOf: ['containerd', 'containerd-flatcar'] }],
  smoke: {
    units: [],
    commands: ['kubeadm version', 'kubectl version --client', 'systemctl cat kubelet.service'],
    workload: {
      // With a containerd image merged beside it (it requires one): its CRI plugin answers.
      commands: ['crictl --runtime-endpoint unix:///run/containerd/containerd.sock info'],
    },
  },
});
