import { defineExtension } from '@bakehouse/schema';

const PREFIX = '/usr/lib/bakehouse/oem-vmware';

/** Flatcar's oem-vmware units carry no condition of their own (the image is only ever installed on VMware); ours may be baked anywhere, so they check the platform twice. */
const ON_VMWARE = {
  ConditionVirtualization: 'vmware',
  ConditionKernelCommandLine: ['|flatcar.oem.id=vmware', '|ignition.platform.id=vmware'],
};

/** Flatcar keeps the tools' configuration in /usr and links it into /etc before either daemon starts; an operator's own /etc/vmware-tools is left alone. */
const LINK_CONFIG = `-/usr/bin/ln -sT ${PREFIX}/etc/vmware-tools /etc/vmware-tools`;

/** True on VMware as Flatcar identifies it: the hypervisor and the OEM id on the kernel command line. */
const ON_PLATFORM = `[ "$(systemd-detect-virt)" = vmware ] && grep -qE '(flatcar\\.oem\\.id|ignition\\.platform\\.id)=vmware( |$)' /proc/cmdline`;

/** Off the platform, each unit was tried at boot and skipped by its condition; on it, each runs. */
function upOnlyOnPlatform(units: string[]): string {
  const skipped = units.map((u) => `test "$(systemctl show -P ConditionResult ${u})" = no && test "$(systemctl show -P ConditionTimestampMonotonic ${u})" != 0 && ! systemctl -q is-active ${u}`);
  return `if ${ON_PLATFORM}; then systemctl is-active ${units.join(' ')}; else ${skipped.join(' && ')}; fi`;
}

export default defineExtension({
  name: 'oem-vmware',
  description: 'open-vm-tools (vmtoolsd and VGAuthService) for Flatcar on VMware, from Debian, pinned to one Flatcar release like official OEM images',
  category: 'oem',
  homepage: 'https://github.com/vmware/open-vm-tools',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['open-vm-tools'],
    // Maintainer-script tooling that never runs inside the image.
    exclude: ['debconf', 'init-system-helpers'],
    prefix: PREFIX,
    export: ['vmtoolsd', 'VGAuthService', 'vmware-toolbox-cmd', 'vmware-checkvm', 'vmware-rpctool', 'vmware-hgfsclient', 'vmhgfs-fuse'].map((command) => ({
      from: `/usr/bin/${command}`,
      to: `/usr/bin/${command}`,
    })),
  },
  units: {
    // Flatcar's names (Debian calls them open-vm-tools.service and vgauth.service).
    'vgauthd.service': {
      Unit: {
        Description: 'VMware guest authentication service',
        Documentation: 'https://github.com/vmware/open-vm-tools',
        ...ON_VMWARE,
        DefaultDependencies: false,
        After: 'systemd-remount-fs.service systemd-tmpfiles-setup.service',
      },
      Service: { PrivateTmp: true, ExecStartPre: LINK_CONFIG, ExecStart: '/usr/bin/VGAuthService', TimeoutStopSec: 5 },
    },
    'vmtoolsd.service': {
      Unit: {
        Description: 'VMware guest tools daemon',
        Documentation: 'https://github.com/vmware/open-vm-tools',
        ...ON_VMWARE,
        DefaultDependencies: false,
        After: 'vgauthd.service systemd-remount-fs.service systemd-tmpfiles-setup.service systemd-modules-load.service',
      },
      Service: {
        PrivateTmp: true,
        ExecStartPre: LINK_CONFIG,
        ExecStart: '/usr/libexec/oem-vmware/vmtoolsd',
        TimeoutStopSec: 5,
      },
    },
  },
  // Started by links in files/usr/lib/systemd/system/multi-user.target.wants/, not `enable`:
  // an Upholds= drop-in retries a unit whose condition fails up to the start rate limit, and
  // again later, filling the journal off its platform; a wanted unit is tried once per merge.
  release: {
    id: 'flatcar',
    compat: 'release',
    extra: { SYSEXT_ID: 'oem-vmware', SYSEXT_NAME: 'VMware', SYSEXT_VERSION_ID: '{flatcarVersion}' },
  },
  smoke: {
    units: [],
    commands: [
      'systemctl cat vmtoolsd.service vgauthd.service',
      upOnlyOnPlatform(['vmtoolsd.service', 'vgauthd.service']),
      // vmware-toolbox-cmd asks the hypervisor through the VMware backdoor: it answers only on VMware, and refuses clearly elsewhere.
      `if ${ON_PLATFORM}; then vmware-toolbox-cmd -v; else vmware-toolbox-cmd -v 2>&1 | grep -q 'must be run inside a virtual machine'; fi`,
    ],
  },
});
