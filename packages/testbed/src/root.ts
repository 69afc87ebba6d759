import { ensureRoot, type EnsureOptions, type RootSpec } from '@bakehouse/rootfs';

/**
 * What the testbed root is made of. Flatcar's base OS carries iptables (dockerd needs it)
 * and gpg (systemd-sysupdate's Verify=yes runs it); trixie's systemd-sysupdate and
 * systemd-pull live in systemd-container.
 */
export const TESTBED_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'systemd-container', 'gpg', 'iptables', 'kmod', 'udev', 'ca-certificates'];

/** Where the host's run directory appears inside the container: the probe script, its results. */
export const PROBE_DIR = '/bakehouse';

/** The os-release a Flatcar host of `version` has, as far as systemd-sysext reads it. */
export function flatcarOsRelease(version: string): Record<string, string> {
  return {
    NAME: '"Flatcar Container Linux by Kinvolk"',
    ID: 'flatcar',
    ID_LIKE: 'coreos',
    VERSION: version,
    VERSION_ID: version,
    BUILD_ID: 'bakehouse-testbed',
    SYSEXT_LEVEL: '1.0',
    PRETTY_NAME: `"Flatcar Container Linux by Kinvolk ${version} (bakehouse testbed)"`,
    ANSI_COLOR: '"38;5;75"',
    HOME_URL: '"https://flatcar.org/"',
  };
}

/**
 * Like Flatcar's ensure-sysext.service: after systemd-sysext merged the images at boot (or a
 * `systemctl restart systemd-sysext`), reload the manager and restart the targets so units
 * shipped in images start.
 */
const ENSURE_SYSEXT = `[Unit]
Description=Ensure systemd-sysext units are loaded and started
BindsTo=systemd-sysext.service
After=systemd-sysext.service
DefaultDependencies=no
Before=sysinit.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/systemctl daemon-reload
ExecStart=/usr/bin/systemctl restart --no-block sockets.target timers.target multi-user.target

[Install]
WantedBy=sysinit.target
`;

/**
 * Runs the per-run probe the host bound in at ${PROBE_DIR}, then powers the container off
 * whatever the outcome. Without a probe it does nothing and the container stays up.
 */
const PROBE_UNIT = `[Unit]
Description=Bakehouse testbed probe
After=multi-user.target ensure-sysext.service
ConditionPathExists=${PROBE_DIR}/probe.sh
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/bin/sh ${PROBE_DIR}/probe.sh
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;

/** The root's customize script: Flatcar's os-release, sysext units, the docker group, the probe unit. */
export function testbedCustomizeScript(flatcarVersion: string): string {
  const osRelease = Object.entries(flatcarOsRelease(flatcarVersion)).map(([k, v]) => `${k}=${v}`).join('\n');
  return `set -eu
root="$1"
cat > "$root/usr/lib/os-release" <<'OS_RELEASE'
${osRelease}
OS_RELEASE
ln -sfn ../usr/lib/os-release "$root/etc/os-release"
echo testbed > "$root/etc/hostname"
# Flatcar's base layout has the docker group (gid 233): sysusers.d lines in an image run
# only when systemd-sysusers happens to start after the merge, so images rely on it.
chroot "$root" groupadd --system --gid 233 docker
cat > "$root/usr/lib/systemd/system/ensure-sysext.service" <<'UNIT'
${ENSURE_SYSEXT}UNIT
cat > "$root/usr/lib/systemd/system/bakehouse-probe.service" <<'UNIT'
${PROBE_UNIT}UNIT
mkdir -p "$root/etc/extensions" "$root/opt/extensions" "$root${PROBE_DIR}"
systemctl --root="$root" enable systemd-sysext.service ensure-sysext.service bakehouse-probe.service
# Nothing in a throw-away container needs these, and they slow every boot down.
systemctl --root="$root" mask systemd-networkd-wait-online.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer 2>/dev/null || true
`;
}

/** The testbed root for a Flatcar release: trixie (systemd 257), Flatcar's os-release and sysext units. */
export function testbedRootSpec(flatcarVersion: string, options: { cacheDir?: string; mirror?: string } = {}): RootSpec {
  return { name: 'testbed', suite: 'trixie', packages: TESTBED_PACKAGES, customize: testbedCustomizeScript(flatcarVersion), ...options };
}

/** Builds the testbed root once per Flatcar release and returns its (read-only) path. */
export function ensureTestbedRoot(flatcarVersion: string, options: { cacheDir?: string; mirror?: string } & EnsureOptions = {}): Promise<string> {
  const { log, lockWaitMs, ...spec } = options;
  return ensureRoot(testbedRootSpec(flatcarVersion, spec), { log, lockWaitMs });
}
