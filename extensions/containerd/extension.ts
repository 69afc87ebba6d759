import { defineExtension } from '@bakehouse/schema';

export default defineExtension({
  name: 'containerd',
  description: 'containerd container runtime with runc, from the upstream static release',
  category: 'container-runtimes',
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
      // containerd names the runc each release is built and tested with; runc stays in that minor (containerd 2.3.4 names v1.4.3).
      versionFrom: {
        source: { type: 'github-releases', repo: 'opencontainers/runc' },
        minorFrom: { url: 'https://raw.githubusercontent.com/containerd/containerd/v{version}/script/setup/runc-version' },
      },
      checksum: { from: 'sha256sums', url: 'https://github.com/opencontainers/runc/releases/download/v{version}/runc.sha256sum' },
      extract: [{ to: '/usr/bin/runc', mode: 0o755 }],
    },
  ],
  // As Flatcar's containerd-flatcar (see README); `replaces` makes `bakehouse lint` check it.
  units: {
    'containerd.service': {
      Unit: {
        Description: 'containerd container runtime',
        Documentation: 'https://containerd.io',
        After: 'network.target local-fs.target',
      },
      Service: {
        Delegate: true,
        // /opt/bin for runtimes installed there (nvidia-container-runtime).
        Environment: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/opt/bin', 'CONTAINERD_CONFIG=/usr/share/containerd/config.toml'],
        ExecStartPre: [
          '-/sbin/modprobe overlay',
          // The socket path Flatcar's dockerd and tools written for it use.
          '/usr/bin/mkdir -p /run/docker/libcontainerd',
          '/usr/bin/ln -fs /run/containerd/containerd.sock /run/docker/libcontainerd/docker-containerd.sock',
        ],
        ExecStart: '/usr/bin/containerd --config ${CONTAINERD_CONFIG}',
        Type: 'notify',
        // KillMode=process: a stop or restart of containerd leaves the shims, so containers survive it.
        KillMode: 'process',
        Restart: 'always',
        RestartSec: 5,
        LimitNOFILE: 1048576,
        LimitNPROC: 'infinity',
        LimitCORE: 'infinity',
        TasksMax: 'infinity',
        OOMScoreAdjust: -999,
      },
    },
  },
  // Started by files/usr/lib/systemd/system/multi-user.target.d/10-containerd-service.conf, Flatcar's
  // name for the Upholds= drop-in, so a user's drop-in of the same name in /etc overrides it.
  release: { id: 'flatcar', compat: 'level' },
  replaces: ['containerd-flatcar'],
  conflicts: { builtins: ['containerd-flatcar'] },
  smoke: {
    units: ['containerd.service'],
    commands: ['ctr version'],
    workload: {
      commands: [
        'ctr image import "$BAKEHOUSE_TEST_IMAGE"',
        'test "$(ctr run --rm "$BAKEHOUSE_TEST_IMAGE_REF" smoke echo bakehouse-container-ok)" = bakehouse-container-ok',
      ],
    },
  },
});
