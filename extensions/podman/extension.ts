import { defineExtension } from '@bakehouse/schema';

const PREFIX = '/usr/lib/bakehouse/podman';

/** Tools operators call directly; the rest of the closure stays inside the prefix. */
const COMMANDS = ['podman', 'crun', 'conmon', 'passt', 'pasta', 'fuse-overlayfs', 'catatonit'];

export default defineExtension({
  name: 'podman',
  description: 'podman with crun, conmon, netavark, aardvark-dns, passt, fuse-overlayfs and catatonit, from Debian, self-contained',
  category: 'container-runtimes',
  homepage: 'https://podman.io',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['podman', 'crun', 'conmon', 'netavark', 'aardvark-dns', 'passt', 'fuse-overlayfs', 'catatonit', 'golang-github-containers-common'],
    // Pulled in by maintainer scripts and signature tooling that never run inside the image.
    exclude: ['debconf', 'adduser', 'passwd', 'login.defs', 'base-passwd', 'init-system-helpers', 'sed', 'mount', 'gnupg', 'gpg-agent', 'gpgsm', 'dirmngr', 'pinentry-curses', 'gnupg-l10n', 'readline-common'],
    prefix: PREFIX,
    export: [
      ...COMMANDS.map((command) => ({ from: `/usr/bin/${command}`, to: `/usr/bin/${command}` })),
      { from: '/usr/libexec/podman/quadlet', to: '/usr/lib/systemd/system-generators/podman-system-generator' },
      { from: '/usr/libexec/podman/quadlet', to: '/usr/lib/systemd/user-generators/podman-user-generator' },
    ],
  },
  units: {
    'podman.socket': {
      Unit: { Description: 'Podman API Socket', Documentation: 'https://docs.podman.io/en/latest/markdown/podman-system-service.1.html' },
      Socket: { ListenStream: '%t/podman/podman.sock', SocketMode: '0660' },
    },
    'podman.service': {
      Unit: { Description: 'Podman API Service', Requires: 'podman.socket', After: 'podman.socket', Documentation: 'https://docs.podman.io/en/latest/markdown/podman-system-service.1.html', StartLimitIntervalSec: 0 },
      Service: { Delegate: true, Type: 'exec', KillMode: 'process', Environment: 'LOGGING="--log-level=info"', ExecStart: '/usr/bin/podman $LOGGING system service' },
    },
    'podman-sysext-setup.service': {
      Unit: {
        Description: 'Prepare the host for the podman extension',
        Documentation: 'https://podman.io',
        After: 'systemd-sysext.service systemd-udevd.service',
      },
      Service: { Type: 'oneshot', RemainAfterExit: true, ExecStart: '/usr/libexec/bakehouse/podman-setup' },
    },
  },
  enable: ['podman.socket', 'podman-sysext-setup.service'],
  release: { id: 'flatcar', compat: 'level', reloadManager: true },
  conflicts: { builtins: ['flatcar-podman'] },
  smoke: {
    units: ['podman-sysext-setup.service'],
    commands: ['test -e /etc/containers/policy.json', 'podman info'],
    workload: {
      commands: [
        'podman load -i "$BAKEHOUSE_TEST_IMAGE"',
        'test "$(podman run --rm "$BAKEHOUSE_TEST_IMAGE_REF" echo bakehouse-container-ok)" = bakehouse-container-ok',
        // Rootless: the testbed's user "tester" has subordinate ids in /etc/subuid and /etc/subgid, and a lingering user manager.
        'cd /tmp && runuser -u tester -- env XDG_RUNTIME_DIR=/run/user/1000 sh -c \'podman load -i "$BAKEHOUSE_TEST_IMAGE" && test "$(podman run --rm "$BAKEHOUSE_TEST_IMAGE_REF" echo rootless-ok)" = rootless-ok\'',
        // A quadlet: the generator in the image turns a .container file into a unit on daemon-reload.
        'mkdir -p /etc/containers/systemd && printf "[Container]\\nImage=%s\\nExec=sleep 3600\\n" "$BAKEHOUSE_TEST_IMAGE_REF" > /etc/containers/systemd/bakehouse-sleeper.container && systemctl daemon-reload && systemctl start bakehouse-sleeper.service && sleep 3 && systemctl is-active bakehouse-sleeper.service && podman ps --format "{{.Names}}" | grep -x systemd-bakehouse-sleeper',
      ],
    },
  },
});
