import { defineExtension } from '@bakehouse/schema';

const VIRTIO_PORT = '/dev/virtio-ports/org.qemu.guest_agent.0';
const VIRTIO_DEVICE = 'dev-virtio\\x2dports-org.qemu.guest_agent.0.device';

export default defineExtension({
  name: 'oem-qemu',
  description: 'QEMU guest agent for Flatcar on QEMU/KVM, from Debian, pinned to one Flatcar release like official OEM images',
  category: 'oem',
  homepage: 'https://www.qemu.org',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['qemu-guest-agent'],
    export: [
      { from: '/usr/sbin/qemu-ga', to: '/usr/bin/qemu-ga' },
      // Tags the virtio port for systemd, so the device unit the service binds to exists.
      { from: '/usr/lib/udev/rules.d/60-qemu-guest-agent.rules', to: '/usr/lib/udev/rules.d/60-qemu-guest-agent.rules' },
    ],
  },
  units: {
    'qemu-guest-agent.service': {
      Unit: {
        Description: 'QEMU Guest Agent',
        Documentation: 'https://www.qemu.org/docs/master/interop/qemu-ga.html',
        ConditionPathExists: VIRTIO_PORT,
        BindsTo: VIRTIO_DEVICE,
        After: VIRTIO_DEVICE,
      },
      Service: { ExecStart: '-/usr/bin/qemu-ga', Restart: 'always', RestartSec: 0 },
    },
  },
  enable: ['qemu-guest-agent.service'],
  release: {
    id: 'flatcar',
    compat: 'release',
    extra: { SYSEXT_ID: 'oem-qemu', SYSEXT_NAME: 'QEMU guest agent', SYSEXT_VERSION_ID: '{flatcarVersion}' },
  },
  smoke: {
    units: [],
    commands: ['systemctl cat qemu-guest-agent.service', `test -e ${VIRTIO_PORT} || ! systemctl is-active qemu-guest-agent.service`],
    // The VM offers the agent's port: udev starts the agent for it.
    workload: { ports: ['org.qemu.guest_agent.0'], units: ['qemu-guest-agent.service'] },
  },
});
