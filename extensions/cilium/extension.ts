import { defineExtension } from '@bakehouse/schema';

/**
 * A kubeconfig naming a loopback port where nothing listens: every command but `version --client`
 * builds a Kubernetes client first (which reads a kubeconfig and contacts nothing), so this lets the
 * offline check get past that without a cluster.
 */
const NO_CLUSTER_KUBECONFIG = String.raw`apiVersion: v1\nkind: Config\nclusters:\n- name: none\n  cluster: {server: "https://127.0.0.1:9"}\ncontexts:\n- name: none\n  context: {cluster: none, user: none}\ncurrent-context: none\nusers:\n- name: none\n  user: {}\n`;

export default defineExtension({
  name: 'cilium',
  description: 'The Cilium CLI: installs, upgrades and checks Cilium in a Kubernetes cluster',
  category: 'networking',
  homepage: 'https://cilium.io',
  upstream: { type: 'github-releases', repo: 'cilium/cilium-cli' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'cilium',
      kind: 'tar.gz',
      url: 'https://github.com/cilium/cilium-cli/releases/download/v{version}/cilium-linux-{goarch}.tar.gz',
      checksum: { from: 'file', url: '{url}.sha256sum' },
      extract: [{ from: 'cilium', to: '/usr/bin/cilium' }],
    },
  ],
  release: { id: 'flatcar', compat: 'level' },
  // Needs no kernel: the nspawn testbed runs these. install, status and connectivity need a cluster's API server.
  smoke: {
    commands: [
      'cilium version --client | grep -E "^cilium-cli: v[0-9]+\\.[0-9]+\\.[0-9]+ " && cilium version --client | grep -E "^cilium image \\(default\\): v[0-9]"',
      // The command reference it generates offline, with every install flag (--dry-run-helm-values among them).
      `d="$(mktemp -d)" && printf '${NO_CLUSTER_KUBECONFIG}' > "$d/kubeconfig" && cilium --kubeconfig "$d/kubeconfig" cmdref "$d/ref" && grep -q -- "--dry-run-helm-values" "$d/ref/cilium_install.md" && rm -r "$d"`,
    ],
  },
});
