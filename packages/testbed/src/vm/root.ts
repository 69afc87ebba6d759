import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { ensureRoot, type EnsureOptions, type RootSpec } from '@bakehouse/rootfs';
import { BootTestError } from '../errors.js';
import { PROBE_DIR, TESTBED_PACKAGES, testbedCustomizeScript } from '../root.js';

/**
 * What a real-kernel testbed adds to the nspawn root: Debian's kernel and an initramfs that
 * mounts the root disk, and what the workload checks use the way a Flatcar host has them
 * (nftables and iptables for container networks, uidmap for rootless containers, a user
 * session bus, busybox-static for the container image the tests build, cryptsetup for
 * dm-verity).
 */
export const VM_PACKAGES = ['initramfs-tools', 'nftables', 'uidmap', 'dbus-user-session', 'busybox-static', 'cryptsetup-bin', 'login', 'passwd'];

/** The filesystem label of the disk that carries one run's files, probe and results. */
export const RUN_DISK_LABEL = 'bakehouse-run';

/** Where the run disk's `root/` tree is copied to, before systemd-sysext merges. */
const PLACE_UNIT = `[Unit]
Description=Bakehouse testbed: place this run's files before the merge
DefaultDependencies=no
RequiresMountsFor=${PROBE_DIR}
After=local-fs.target
Before=systemd-sysext.service sysinit.target
ConditionPathExists=${PROBE_DIR}/root

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/cp -a ${PROBE_DIR}/root/. /

[Install]
WantedBy=sysinit.target
`;

function vmCustomizeScript(): string {
  return `set -eu
root="$1"
# The run disk is always the second virtio disk (qemu attaches disks in order): no udev rule needed to find it.
cat > "$root/etc/fstab" <<'FSTAB'
/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/vdb ${PROBE_DIR} ext4 rw,nofail,x-systemd.device-timeout=300s 0 0
FSTAB
cat > "$root/usr/lib/systemd/system/bakehouse-place.service" <<'UNIT'
${PLACE_UNIT}UNIT
systemctl --root="$root" enable bakehouse-place.service
# An unprivileged user for rootless containers, with subordinate ids as Flatcar's core user has.
chroot "$root" useradd --create-home --uid 1000 --user-group --shell /bin/sh tester
echo 'tester:100000:65536' > "$root/etc/subuid"
echo 'tester:100000:65536' > "$root/etc/subgid"
mkdir -p "$root/var/lib/systemd/linger" && touch "$root/var/lib/systemd/linger/tester"
# Only what mounts a virtio root disk: a third of the default initramfs, which halves a TCG boot's time in the initramfs.
echo 'MODULES=list' > "$root/etc/initramfs-tools/conf.d/bakehouse.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -u -k all
`;
}

export type VmArch = 'x86-64' | 'arm64';

const DEBIAN_ARCH = { 'x86-64': 'amd64', arm64: 'arm64' } as const;

export interface VmRootOptions {
  cacheDir?: string;
  mirror?: string;
  /** The guest's architecture; default x86-64. An arm64 root is built through qemu-user (binfmt_misc) on an x86-64 host. */
  arch?: VmArch;
}

/** The VM testbed root for a Flatcar release: the nspawn root plus a kernel, an initramfs and the run disk's wiring. */
export function vmRootSpec(flatcarVersion: string, options: VmRootOptions = {}): RootSpec {
  const { arch = 'x86-64', ...rest } = options;
  return {
    name: arch === 'x86-64' ? 'testbed-vm' : `testbed-vm-${arch}`,
    suite: 'trixie',
    arch: DEBIAN_ARCH[arch],
    packages: [...TESTBED_PACKAGES, ...VM_PACKAGES, `linux-image-${DEBIAN_ARCH[arch]}`],
    customize: `${testbedCustomizeScript(flatcarVersion)}\n${vmCustomizeScript()}`,
    ...rest,
  };
}

export interface VmRoot {
  root: string;
  kernel: string;
  initrd: string;
  /** The kernel's release, as `uname -r` prints it in the guest. */
  kernelRelease: string;
  arch: VmArch;
}

/** Builds the VM root once per Flatcar release (cached like the nspawn root) and finds its kernel. */
export async function ensureVmRoot(flatcarVersion: string, options: VmRootOptions & EnsureOptions = {}): Promise<VmRoot> {
  const { log, lockWaitMs, ...spec } = options;
  const root = await ensureRoot(vmRootSpec(flatcarVersion, spec), { log, lockWaitMs });
  return findKernel(root, spec.arch);
}

/** The newest kernel and its initramfs in ROOT/boot. */
export async function findKernel(root: string, arch: VmArch = 'x86-64'): Promise<VmRoot> {
  const boot = path.join(root, 'boot');
  const entries = await readdir(boot).catch(() => [] as string[]);
  const releases = entries.filter((e) => e.startsWith('vmlinuz-')).map((e) => e.slice('vmlinuz-'.length)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const release = releases.at(-1);
  if (!release || !entries.includes(`initrd.img-${release}`))
    throw new BootTestError(`no kernel with an initramfs in ${boot}: the VM root needs linux-image-* and initramfs-tools (remove the root to rebuild it)`);
  return { root, kernel: path.join(boot, `vmlinuz-${release}`), initrd: path.join(boot, `initrd.img-${release}`), kernelRelease: release, arch };
}
