import { defineExtension } from '@bakehouse/schema';

export default defineExtension({
  name: 'oem-hyperv',
  description: 'Hyper-V KVP daemon for Flatcar on Hyper-V, from Debian, pinned to one Flatcar release like official OEM images',
  category: 'oem',
  homepage: 'https://learn.microsoft.com/virtualization/hyper-v-on-windows/',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['hyperv-daemons'],
    export: [{ from: '/usr/sbin/hv_kvp_daemon', to: '/usr/bin/hv_kvp_daemon' }],
  },
  units: {
    'hv-kvp-daemon.service': {
      Unit: { Description: 'Hyper-V KVP Protocol Daemon', ConditionVirtualization: 'microsoft', ConditionPathExists: '/dev/vmbus/hv_kvp' },
      Service: { ExecStart: '/usr/bin/hv_kvp_daemon -n', Restart: 'always' },
    },
  },
  enable: ['hv-kvp-daemon.service'],
  release: {
    id: 'flatcar',
    compat: 'release',
    extra: { SYSEXT_ID: 'oem-hyperv', SYSEXT_NAME: 'Hyper-V KVP daemon', SYSEXT_VERSION_ID: '{flatcarVersion}' },
  },
  smoke: { units: [], commands: ['systemctl cat hv-kvp-daemon.service'] },
});
