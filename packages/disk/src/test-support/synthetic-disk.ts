import { createCipheriv, createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { FLATCAR_PARTITION_TYPES } from '../layout.js';

export interface SyntheticDiskOptions {
  /** The disk image to create. */
  file: string;
  /**
   * Becomes USR-A's file system root, i.e. the host's /usr (for a bootable disk: a Debian /usr).
   * Default: an empty tree. lib/os-release is written into it (in the image, not the directory).
   */
  usrTree?: string;
  /** USR-A's file system: ext4 (default; mke2fs -d) or btrfs, as current Flatcar releases use (then usr is at least 109 MiB). */
  usrFilesystem?: 'ext4' | 'btrfs';
  /** Contents of ROOT (e.g. an /etc with an fstab mounting USR-A on /usr). Default: empty. */
  rootTree?: string;
  /** Contents of OEM. Default: empty. */
  oemTree?: string;
  /** USR-A's /usr/lib/os-release; the default is a Flatcar amd64 stable release's. */
  osRelease?: Record<string, string>;
  /** Partition sizes in MiB. OEM must be at least 109 MiB (mkfs.btrfs' minimum; Flatcar's is 128). */
  sizesMiB?: Partial<Record<'efi' | 'bios' | 'usr' | 'oem' | 'oemConfig' | 'root', number>>;
  /** File time for everything in the fixture (default 1700000000), so fixtures are reproducible. */
  time?: number;
}

export const SYNTHETIC_OS_RELEASE: Record<string, string> = {
  NAME: '"Flatcar Container Linux by Kinvolk"',
  ID: 'flatcar',
  ID_LIKE: 'coreos',
  VERSION: '4230.2.3',
  VERSION_ID: '4230.2.3',
  BUILD_ID: '2025-09-15-1835',
  SYSEXT_LEVEL: '1.0',
  PRETTY_NAME: '"Flatcar Container Linux by Kinvolk 4230.2.3 (Oklo)"',
  HOME_URL: '"https://flatcar.org/"',
  FLATCAR_BOARD: '"amd64-usr"',
};

/** Flatcar's fixed USR-A and USR-B partition GUIDs (disk_layout.json); the others are fixed here so fixtures are reproducible. */
const PARTITIONS = [
  { number: 1, label: 'EFI-SYSTEM', type: FLATCAR_PARTITION_TYPES.efi, uuid: '6a4e1c1e-0001-4b1a-9c1d-000000000001', size: 'efi' },
  { number: 2, label: 'BIOS-BOOT', type: FLATCAR_PARTITION_TYPES.bios, uuid: '6a4e1c1e-0002-4b1a-9c1d-000000000002', size: 'bios' },
  { number: 3, label: 'USR-A', type: FLATCAR_PARTITION_TYPES.usr, uuid: '7130c94a-213a-4e5a-8e26-6cce9662f132', size: 'usr' },
  { number: 4, label: 'USR-B', type: FLATCAR_PARTITION_TYPES.usr, uuid: 'e03dd35c-7c2d-4a47-b3fe-27f15780a57c', size: 'usr' },
  { number: 6, label: 'OEM', type: FLATCAR_PARTITION_TYPES.data, uuid: '6a4e1c1e-0006-4b1a-9c1d-000000000006', size: 'oem' },
  { number: 7, label: 'OEM-CONFIG', type: FLATCAR_PARTITION_TYPES.reserved, uuid: '6a4e1c1e-0007-4b1a-9c1d-000000000007', size: 'oemConfig' },
  { number: 9, label: 'ROOT', type: FLATCAR_PARTITION_TYPES.resize, uuid: '6a4e1c1e-0009-4b1a-9c1d-000000000009', size: 'root' },
] as const;

const MiB = 1 << 20;

/**
 * A Flatcar-shaped disk image made without root: sgdisk lays out Flatcar's partition names and
 * type GUIDs (numbers 1–4, 6, 7, 9, as in its disk_layout.json), mke2fs -d fills USR-A (ext4,
 * holding `usrTree` plus a Flatcar os-release) and ROOT (ext4, label ROOT), mkfs.btrfs --rootdir
 * makes OEM (label OEM). EFI-SYSTEM, BIOS-BOOT, USR-B and OEM-CONFIG start and end with a fixed byte pattern, so
 * tests can see that bake leaves them alone. Returns the partitions' byte offsets and sizes.
 */
export async function makeSyntheticFlatcarDisk(options: SyntheticDiskOptions): Promise<Record<string, { offset: number; size: number }>> {
  const sizes = { efi: 2, bios: 1, usr: 32, oem: 128, oemConfig: 1, root: 64, ...options.sizesMiB };
  const time = options.time ?? 1_700_000_000;
  const env = { E2FSPROGS_FAKE_TIME: String(time) };
  const work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-synthetic-disk-'));
  try {
    const layout: Record<string, { offset: number; size: number }> = {};
    let next = MiB;
    for (const p of PARTITIONS) {
      layout[p.label] = { offset: next, size: sizes[p.size] * MiB };
      next += sizes[p.size] * MiB;
    }
    await rm(options.file, { force: true });
    await writeFile(options.file, '');
    await (await open(options.file, 'r+')).close();
    await execa('truncate', ['-s', String(next + MiB), options.file]);
    const sgdisk = ['-U', '00000000-0000-4000-8000-00000000f1a7'];
    for (const p of PARTITIONS) {
      const { offset, size } = layout[p.label]!;
      sgdisk.push('-n', `${p.number}:${offset / 512}:${(offset + size) / 512 - 1}`, '-t', `${p.number}:${p.type}`, '-c', `${p.number}:${p.label}`, '-u', `${p.number}:${p.uuid}`);
    }
    await execa('sgdisk', [...sgdisk, options.file]);

    for (const label of ['EFI-SYSTEM', 'BIOS-BOOT', 'USR-B', 'OEM-CONFIG']) await fillPattern(options.file, layout[label]!, label);

    const empty = path.join(work, 'empty');
    await execa('mkdir', ['-p', empty]);
    const usr = layout['USR-A']!;
    const osRelease = Object.entries(options.osRelease ?? SYNTHETIC_OS_RELEASE).map(([k, v]) => `${k}=${v}\n`).join('');
    const releaseFile = path.join(work, 'os-release');
    await writeFile(releaseFile, osRelease);
    if (options.usrFilesystem === 'btrfs') {
      // mkfs.btrfs reads a directory: a copy of the tree with the os-release added.
      const tree = path.join(work, 'usr');
      await execa('cp', ['-a', `${options.usrTree ?? empty}/.`, tree]);
      await mkdir(path.join(tree, 'lib'), { recursive: true });
      await copyFile(releaseFile, path.join(tree, 'lib/os-release'));
      await writeBtrfs(options.file, usr, tree, 'USR-A', work);
    } else {
      await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'USR-A', '-U', '00000000-0000-4000-8000-0000000005a1', '-E', `offset=${usr.offset},hash_seed=00000000-0000-4000-8000-0000000005a2`, '-d', options.usrTree ?? empty, options.file, `${usr.size / 1024}k`], { env });
      const usrSpec = `${options.file}?offset=${usr.offset}`;
      const hasLib = (await execa('debugfs', ['-R', 'stat /lib', usrSpec], { reject: false })).stderr.includes('File not found') === false;
      await execa('debugfs', ['-w', '-f', '-', usrSpec], { env, input: `${hasLib ? '' : 'mkdir /lib\n'}rm /lib/os-release\nwrite ${releaseFile} /lib/os-release\nsif /lib/os-release mode 0100644\nsif /lib/os-release uid 0\nsif /lib/os-release gid 0\n` });
    }

    const root = layout.ROOT!;
    await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'ROOT', '-U', '00000000-0000-4000-8000-00000000a007', '-E', `offset=${root.offset},hash_seed=00000000-0000-4000-8000-00000000a008`, '-d', options.rootTree ?? empty, options.file, `${root.size / 1024}k`], { env });

    await writeBtrfs(options.file, layout.OEM!, options.oemTree ?? empty, 'OEM', work);
    return layout;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A btrfs labelled `label` holding `tree`, written into the disk at the partition. */
async function writeBtrfs(file: string, { offset, size }: { offset: number; size: number }, tree: string, label: string, work: string): Promise<void> {
  const image = path.join(work, `${label}.img`);
  await execa('truncate', ['-s', String(size), image]);
  await execa('mkfs.btrfs', ['-q', '-f', '-L', label, '-U', label === 'OEM' ? '00000000-0000-4000-8000-0000000000e3' : '00000000-0000-4000-8000-0000000005a1', '--rootdir', tree, image]);
  await execa('dd', [`if=${image}`, `of=${file}`, 'bs=1M', `seek=${offset}`, 'oflag=seek_bytes', 'conv=notrunc,sparse', 'status=none']);
}

/**
 * Fills the first and the last 256 KiB of a partition with bytes derived from its label (an AES-CTR
 * keystream): recognisable, incompressible, identical every time. The rest stays a hole.
 */
async function fillPattern(file: string, { offset, size }: { offset: number; size: number }, label: string): Promise<void> {
  const piece = Math.min(256 * 1024, size / 2);
  const key = createHash('sha256').update(label).digest().subarray(0, 16);
  const stream = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(2 * piece));
  const handle = await open(file, 'r+');
  try {
    await handle.write(stream, 0, piece, offset);
    await handle.write(stream, piece, piece, offset + size - piece);
  } finally {
    await handle.close();
  }
}
