import { defineExtension } from '@bakehouse/schema';

/** The tarball keeps everything below tailscale_VERSION_GOARCH/. */
const TOP = 'tailscale_{version}_{goarch}';

export default defineExtension({
  name: 'tailscale',
  description: 'tailscale and tailscaled from the upstream static tarball, with tailscaled.service keeping its state in /var/lib/tailscale',
  category: 'networking',
  homepage: 'https://tailscale.com',
  upstream: { type: 'tailscale-pkgs', track: 'stable' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'tailscale',
      kind: 'tar.gz',
      url: 'https://pkgs.tailscale.com/stable/tailscale_{version}_{goarch}.tgz',
      checksum: { from: 'file', url: '{url}.sha256' },
      // Both binaries in /usr/bin, never /usr/sbin: an image that brings its own /usr/sbin can hide Flatcar's.
      extract: [
        { from: `${TOP}/tailscale`, to: '/usr/bin/tailscale' },
        { from: `${TOP}/tailscaled`, to: '/usr/bin/tailscaled' },
        { from: `${TOP}/systemd/tailscaled.defaults`, to: '/usr/share/tailscale/tailscaled.defaults' },
      ],
    },
  ],
  // Upstream's systemd/tailscaled.service with the binaries' paths here; upstream's defaults apply first, /etc/default/tailscaled overrides them.
  units: {
    'tailscaled.service': {
      Unit: {
        Description: 'Tailscale node agent',
        Documentation: 'https://tailscale.com/kb/',
        Wants: 'network-pre.target',
        After: 'network-pre.target NetworkManager.service systemd-resolved.service',
      },
      Service: {
        EnvironmentFile: ['/usr/share/tailscale/tailscaled.defaults', '-/etc/default/tailscaled'],
        ExecStart: '/usr/bin/tailscaled --state=/var/lib/tailscale/tailscaled.state --socket=/run/tailscale/tailscaled.sock --port=${PORT} $FLAGS',
        ExecStopPost: '/usr/bin/tailscaled --cleanup',
        Restart: 'on-failure',
        RuntimeDirectory: 'tailscale',
        RuntimeDirectoryMode: '0755',
        StateDirectory: 'tailscale',
        StateDirectoryMode: '0700',
        CacheDirectory: 'tailscale',
        CacheDirectoryMode: '0750',
        Type: 'notify',
      },
    },
  },
  enable: ['tailscaled.service'],
  release: { id: 'flatcar', compat: 'level' },
  smoke: {
    units: [],
    commands: ['tailscale version', 'systemctl cat tailscaled.service'],
    workload: {
      units: ['tailscaled.service'],
      commands: [
        // The customization point operators use: FLAGS in /etc/default/tailscaled, here for userspace networking (no TUN device).
        'printf \'FLAGS="--tun=userspace-networking"\\n\' > /etc/default/tailscaled && systemctl restart tailscaled.service && systemctl is-active tailscaled.service && tr "\\0" " " < "/proc/$(systemctl show -P MainPID tailscaled.service)/cmdline" | grep -q -- "--tun=userspace-networking"',
        // A node that never ran `tailscale up` is logged out; status says so through the daemon's socket (and exits 1).
        'for i in $(seq 30); do out="$(tailscale status 2>&1)"; case "$out" in *"Logged out"*) exit 0;; esac; sleep 1; done; echo "$out"; exit 1',
      ],
    },
  },
});
