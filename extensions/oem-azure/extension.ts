import { defineExtension } from '@bakehouse/schema';

const CONFIG = '/usr/share/oem/oem-azure/waagent.conf';

/** True on Azure as Flatcar identifies it: the hypervisor and the OEM id on the kernel command line. */
const ON_PLATFORM = `[ "$(systemd-detect-virt)" = microsoft ] && grep -qE '(flatcar\\.oem\\.id|ignition\\.platform\\.id)=azure( |$)' /proc/cmdline`;

/** Off the platform, each unit was tried at boot and skipped by its condition; on it, each runs. */
function upOnlyOnPlatform(units: string[]): string {
  const skipped = units.map((u) => `test "$(systemctl show -P ConditionResult ${u})" = no && test "$(systemctl show -P ConditionTimestampMonotonic ${u})" != 0 && ! systemctl -q is-active ${u}`);
  return `if ${ON_PLATFORM}; then systemctl is-active ${units.join(' ')}; else ${skipped.join(' && ')}; fi`;
}

export default defineExtension({
  name: 'oem-azure',
  description: 'The Azure Linux Agent (waagent) with its own python, for Flatcar on Azure, from Debian, pinned to one Flatcar release like official OEM images',
  category: 'oem',
  homepage: 'https://github.com/Azure/WALinuxAgent',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['waagent'],
    // Maintainer-script tooling that never runs inside the image.
    exclude: ['debconf', 'init-system-helpers', 'dpkg'],
    // waagent's interpreter, at a path of its own so it never stands in for a python3 on the host.
    export: [{ from: '/usr/bin/python3', to: '/usr/libexec/oem-azure/python3' }],
  },
  units: {
    'waagent.service': {
      Unit: {
        Description: 'Microsoft Azure Linux Agent',
        Documentation: 'https://github.com/Azure/WALinuxAgent',
        // Flatcar's waagent.service has no condition (the image is only installed on Azure); ours may be baked anywhere.
        ConditionVirtualization: 'microsoft',
        ConditionKernelCommandLine: ['|flatcar.oem.id=azure', '|ignition.platform.id=azure'],
        Wants: 'network-online.target sshd-keygen.service',
        After: 'network-online.target sshd-keygen.service',
      },
      Service: {
        Type: 'simple',
        // Like Flatcar: the default configuration lives in /usr and is linked into /etc unless the operator wrote one.
        ExecStartPre: `-/usr/bin/ln -sT ${CONFIG} /etc/waagent.conf`,
        Environment: 'PYTHONUNBUFFERED=1',
        // Debian's waagent takes Flatcar for CoreOS, whose configuration was /usr/share/oem/waagent.conf; the daemon passes the path on to its children.
        ExecStart: '/usr/bin/waagent -daemon -configuration-path:/etc/waagent.conf',
        Restart: 'always',
        RestartSec: '5s',
      },
    },
  },
  // Started by links in files/usr/lib/systemd/system/multi-user.target.wants/, not `enable`:
  // an Upholds= drop-in retries a unit whose condition fails up to the start rate limit, and
  // again later, filling the journal off its platform; a wanted unit is tried once per merge.
  release: {
    id: 'flatcar',
    compat: 'release',
    extra: { SYSEXT_ID: 'oem-azure', SYSEXT_NAME: 'Microsoft Azure', SYSEXT_VERSION_ID: '{flatcarVersion}' },
  },
  smoke: {
    units: [],
    commands: [
      'systemctl cat waagent.service',
      upOnlyOnPlatform(['waagent.service']),
      // The agent runs on its own python and recognises the host as Flatcar.
      'waagent -version | grep -q "running on flatcar"',
      // The shipped configuration parses, with Flatcar's provisioning settings.
      'waagent -show-configuration -configuration-path:/usr/share/oem/oem-azure/waagent.conf | grep -qx "Provisioning.ExecuteCustomData = False"',
    ],
  },
});
