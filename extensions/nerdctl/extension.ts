import { defineExtension } from '@bakehouse/schema';

export default defineExtension({
  name: 'nerdctl',
  description: 'nerdctl, a Docker-compatible CLI for containerd, from the upstream release',
  category: 'container-runtimes',
  homepage: 'https://github.com/containerd/nerdctl',
  upstream: { type: 'github-releases', repo: 'containerd/nerdctl' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'nerdctl',
      kind: 'tar.gz',
      // The minimal release (nerdctl and the rootless scripts); containerd comes from the required image.
      url: 'https://github.com/containerd/nerdctl/releases/download/v{version}/nerdctl-{version}-linux-{goarch}.tar.gz',
      checksum: { from: 'sha256sums', url: 'https://github.com/containerd/nerdctl/releases/download/v{version}/SHA256SUMS' },
      extract: [
        { from: 'nerdctl', to: '/usr/bin/nerdctl' },
        { from: 'containerd-rootless-setuptool.sh', to: '/usr/bin/containerd-rootless-setuptool.sh' },
        { from: 'containerd-rootless.sh', to: '/usr/bin/containerd-rootless.sh' },
      ],
    },
  ],
  release: { id: 'flatcar', compat: 'level' },
  // Talks to /run/containerd/containerd.sock: this catalog's containerd, or Flatcar's own.
  requires: [{ anyOf: ['containerd', 'containerd-flatcar'] }],
  smoke: {
    commands: ['nerdctl --version'],
    workload: {
      commands: [
        'nerdctl load -i "$BAKEHOUSE_TEST_IMAGE"',
        // --net none: the minimal release carries no CNI plugins.
        'test "$(nerdctl run --rm --net none "$BAKEHOUSE_TEST_IMAGE_REF" echo bakehouse-container-ok)" = bakehouse-container-ok',
      ],
    },
  },
});
