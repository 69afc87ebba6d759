import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bootDisk, checksFor, ensureVmRoot, findImages, type BootResult, type VmRoot } from '@bakehouse/testbed';
import { fixtureWorkspace } from '@bakehouse/testbed/test-support/fixture-images';
import { repoFlatcarVersion, repoManifest } from '@bakehouse/testbed/test-support/workspace';
import { makeSyntheticFlatcarDisk, SYNTHETIC_OS_RELEASE } from './test-support/synthetic-disk.js';

// The whole way: a Flatcar-shaped disk whose USR-A is the VM testbed's Debian /usr, baked by
// the real `bakehouse bake` with podman and oem-qemu, booted under a real kernel. ROOT is the
// root file system, /usr comes from USR-A through ROOT's fstab (initramfs-tools mounts it
// before switching root), and a unit does what Flatcar's initrd does for OEM images.

const BAKEHOUSE = fileURLToPath(new URL('../../cli/bin/bakehouse.js', import.meta.url));
const GUEST_AGENT_PORT = 'org.qemu.guest_agent.0';

// Flatcar mounts OEM on /oem; the run disk is the second virtio disk, as in the VM root's own fstab.
const FSTAB = `PARTLABEL=ROOT / ext4 rw,errors=remount-ro 0 1
PARTLABEL=USR-A /usr ext4 ro 0 0
PARTLABEL=OEM /oem btrfs ro,nofail 0 0
/dev/vdb /bakehouse ext4 rw,nofail,x-systemd.device-timeout=300s 0 0
`;

// What Flatcar's initrd does at every boot: /etc/extensions/oem-ID.raw points at the OEM
// partition's image for the running release, named by /oem/sysext/active-oem-ID.
const OEM_LINK_UNIT = `[Unit]
Description=Link the active OEM system extension, as Flatcar's initrd does
DefaultDependencies=no
RequiresMountsFor=/oem /usr
After=local-fs.target
Before=systemd-sysext.service sysinit.target
ConditionPathExistsGlob=/oem/sysext/active-oem-*

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -ec '. /usr/lib/os-release; mkdir -p /etc/extensions; for active in /oem/sysext/active-oem-*; do name=$\${active#/oem/sysext/active-}; ln -sfn "/oem/sysext/$$name-$$VERSION_ID.raw" "/etc/extensions/$$name.raw"; done'

[Install]
WantedBy=sysinit.target
`;

let work: string;
let vm: VmRoot;
let flatcarVersion: string;
let baked: string;
let result: BootResult;
const timings: Record<string, number> = {};

const output = (name: string) => result.checks.find((c) => c.name === name)?.output ?? '';

async function timed<T>(label: string, step: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await step();
  } finally {
    timings[label] = Date.now() - started;
  }
}

/** The VM root without /usr (trixie's /bin, /lib and /sbin are links into it), with the Flatcar layout's fstab and the OEM link unit. */
async function rootTree(dir: string): Promise<void> {
  await mkdir(dir);
  const entries = (await readdir(vm.root)).filter((e) => e !== 'usr').map((e) => path.join(vm.root, e));
  await execa('cp', ['-a', ...entries, dir]);
  await mkdir(path.join(dir, 'usr'));
  await mkdir(path.join(dir, 'oem'));
  await writeFile(path.join(dir, 'etc/fstab'), FSTAB);
  await writeFile(path.join(dir, 'etc/systemd/system/bakehouse-oem-link.service'), OEM_LINK_UNIT);
  await mkdir(path.join(dir, 'etc/systemd/system/sysinit.target.wants'), { recursive: true });
  await symlink('../bakehouse-oem-link.service', path.join(dir, 'etc/systemd/system/sysinit.target.wants/bakehouse-oem-link.service'));
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-bake-boot-'));
  flatcarVersion = await repoFlatcarVersion();
  vm = await timed('(vm root)', () => ensureVmRoot(flatcarVersion));
  const workspace = await timed('(fixture images)', () => fixtureWorkspace(flatcarVersion));
  await timed('(synthetic disk)', async () => {
    await rootTree(path.join(work, 'root'));
    // oem-qemu is pinned to flatcar.json's release, so the disk must be that release.
    const osRelease = { ...SYNTHETIC_OS_RELEASE, VERSION: flatcarVersion, VERSION_ID: flatcarVersion, PRETTY_NAME: `"Flatcar Container Linux by Kinvolk ${flatcarVersion}"` };
    await makeSyntheticFlatcarDisk({ file: path.join(work, 'flatcar.bin'), usrTree: path.join(vm.root, 'usr'), rootTree: path.join(work, 'root'), osRelease, sizesMiB: { usr: 1024, root: 2048 } });
  });
  baked = path.join(work, 'flatcar.baked.bin');
  const bake = await timed('(bake)', () => execa(process.execPath, [BAKEHOUSE, 'bake', path.join(work, 'flatcar.bin'), '--out', baked, 'podman', 'oem-qemu', '--mask-builtins'], { cwd: workspace, reject: false, all: true }));
  expect(bake.exitCode, bake.all).toBe(0);

  const podman = checksFor('vm', (await repoManifest('podman')).smoke);
  const oem = checksFor('vm', (await repoManifest('oem-qemu')).smoke);
  const podmanImage = path.basename((await findImages(path.join(workspace, 'extensions/podman/dist'), 'podman', 'x86-64')).at(-1)!);
  result = await timed('(boot)', () =>
    bootDisk({
      vm,
      disk: baked,
      append: 'root=PARTLABEL=ROOT rw loglevel=4 systemd.show_status=error',
      ports: [GUEST_AGENT_PORT],
      checks: {
        units: [...podman.units, ...oem.units],
        commands: [
          'findmnt -no SOURCE /',
          'lsblk -rno PARTLABEL,FSTYPE,MOUNTPOINTS /dev/vda3',
          'readlink /etc/extensions/oem-qemu.raw && test -f "$(readlink /etc/extensions/oem-qemu.raw)"',
          `test "$(readlink /etc/extensions/podman.raw)" = /opt/extensions/podman/${podmanImage}`,
          'readlink /etc/extensions/flatcar-podman.raw',
          'podman load -i "$BAKEHOUSE_TEST_IMAGE" && podman run --rm "$BAKEHOUSE_TEST_IMAGE_REF" echo ok',
          ...podman.commands,
          ...oem.commands,
        ],
      },
      timeoutMs: 900_000,
    }),
  );
}, 2_400_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  process.stderr.write(`baked disk boot timings: ${JSON.stringify(timings)}\n`);
});

it('the baked disk boots: ROOT is /, /usr is USR-A, podman and oem-qemu are merged and run', () => {
  const failed = result.checks.filter((c) => !c.ok).map((c) => `${c.name}:\n${c.output}`);
  const context = `${result.journal ?? ''}\n${result.console.slice(-4000)}`;
  expect(result.problem, context).toBeUndefined();
  expect(failed, context).toEqual([]);
  expect(result.ok).toBe(true);
  expect(output('findmnt -no SOURCE /')).toBe('/dev/vda9');
  expect(output('lsblk -rno PARTLABEL,FSTYPE,MOUNTPOINTS /dev/vda3')).toBe('USR-A ext4 /usr');
  expect(output('readlink /etc/extensions/flatcar-podman.raw')).toBe('/dev/null');
  // The link that bakehouse-oem-link.service made from /oem/sysext/active-oem-qemu, to the image bake put there.
  expect(output('readlink /etc/extensions/oem-qemu.raw && test -f "$(readlink /etc/extensions/oem-qemu.raw)"')).toBe(`/oem/sysext/oem-qemu-${flatcarVersion}.raw`);
  expect(output('podman load -i "$BAKEHOUSE_TEST_IMAGE" && podman run --rm "$BAKEHOUSE_TEST_IMAGE_REF" echo ok').split('\n').at(-1)).toBe('ok');
  // systemd-sysext status: /usr has both extensions merged.
  expect(result.sysext).toMatch(/\/usr[\s\S]*oem-qemu/);
  expect(result.sysext).toMatch(/\/usr[\s\S]*podman/);
});
