import { defineExtension } from '@bakehouse/schema';

/** Flatcar's oem-gce units carry no condition of their own (the image is only installed on GCE); ours may be baked anywhere. */
const ON_GCE = {
  ConditionVirtualization: 'google',
  ConditionKernelCommandLine: ['|flatcar.oem.id=gce', '|ignition.platform.id=gcp'],
};

/** True on Google Compute Engine as Flatcar identifies it: the hypervisor and the OEM id on the kernel command line. */
const ON_PLATFORM = `[ "$(systemd-detect-virt)" = google ] && grep -qE '(flatcar\\.oem\\.id=gce|ignition\\.platform\\.id=gcp)( |$)' /proc/cmdline`;

/** Off the platform, each unit was tried at boot and skipped by its condition; on it, each runs. */
function upOnlyOnPlatform(units: string[]): string {
  const skipped = units.map((u) => `test "$(systemctl show -P ConditionResult ${u})" = no && test "$(systemctl show -P ConditionTimestampMonotonic ${u})" != 0 && ! systemctl -q is-active ${u}`);
  return `if ${ON_PLATFORM}; then systemctl is-active ${units.join(' ')}; else ${skipped.join(' && ')}; fi`;
}

export default defineExtension({
  name: 'oem-gce',
  description: 'The Google guest agent, metadata scripts and OS Login key lookup for Flatcar on Google Compute Engine, from Debian, pinned to one Flatcar release like official OEM images',
  category: 'oem',
  homepage: 'https://github.com/GoogleCloudPlatform/guest-agent',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['google-guest-agent', 'google-compute-engine-oslogin'],
    versionOf: 'google-guest-agent',
    exclude: ['debconf'],
    export: [
      { from: '/usr/bin/google_guest_agent', to: '/usr/bin/google_guest_agent' },
      { from: '/usr/bin/google_metadata_script_runner', to: '/usr/bin/google_metadata_script_runner' },
      // sshd's AuthorizedKeysCommand for OS Login.
      { from: '/usr/bin/google_authorized_keys', to: '/usr/bin/google_authorized_keys' },
      { from: '/usr/bin/google_oslogin_nss_cache', to: '/usr/bin/google_oslogin_nss_cache' },
    ],
  },
  units: {
    'google-guest-agent.service': {
      Unit: {
        Description: 'Google Compute Engine guest agent',
        Documentation: 'https://github.com/GoogleCloudPlatform/guest-agent',
        ...ON_GCE,
        // The agent writes SSH host keys before sshd starts.
        Before: 'sshd.service sshd.socket',
        Wants: 'network-online.target',
        After: 'network-online.target',
      },
      Service: { Type: 'notify', ExecStart: '/usr/bin/google_guest_agent', OOMScoreAdjust: -900, Restart: 'always' },
    },
    'google-startup-scripts.service': {
      Unit: { Description: 'Google Compute Engine startup scripts', ...ON_GCE, Wants: 'network-online.target', After: 'network-online.target google-guest-agent.service' },
      Service: { Type: 'oneshot', ExecStart: '/usr/bin/google_metadata_script_runner startup', RemainAfterExit: true, KillMode: 'process' },
    },
    'google-shutdown-scripts.service': {
      Unit: { Description: 'Google Compute Engine shutdown scripts', ...ON_GCE, Wants: 'network-online.target', After: 'network-online.target google-guest-agent.service' },
      // Nothing to do at start; the scripts run when the unit stops, at shutdown (GCE allows 90 s).
      Service: { Type: 'oneshot', RemainAfterExit: true, ExecStop: '/usr/bin/google_metadata_script_runner shutdown', TimeoutStopSec: '90s', KillMode: 'process' },
    },
  },
  // Started by links in files/usr/lib/systemd/system/multi-user.target.wants/, not `enable`:
  // an Upholds= drop-in retries a unit whose condition fails up to the start rate limit, and
  // again later, filling the journal off its platform; a wanted unit is tried once per merge.
  release: {
    id: 'flatcar',
    compat: 'release',
    extra: { SYSEXT_ID: 'oem-gce', SYSEXT_NAME: 'Google Compute Engine', SYSEXT_VERSION_ID: '{flatcarVersion}' },
  },
  smoke: {
    units: [],
    commands: [
      'systemctl cat google-guest-agent.service google-startup-scripts.service google-shutdown-scripts.service',
      upOnlyOnPlatform(['google-guest-agent.service', 'google-startup-scripts.service', 'google-shutdown-scripts.service']),
    ],
  },
});
