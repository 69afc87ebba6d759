import { open } from 'node:fs/promises';
import { readGpt } from '@bakehouse/builder';
import { BakeError } from './errors.js';

export type GptPartition = Awaited<ReturnType<typeof readGpt>>[number];

/** Flatcar's GPT partition type GUIDs (its disk_layout.json / cgpt names). */
export const FLATCAR_PARTITION_TYPES = {
  efi: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
  bios: '21686148-6449-6e6f-744e-656564454649',
  /** "flatcar-rootfs": USR-A and USR-B. */
  usr: '5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6',
  /** "data": OEM. */
  data: '0fc63daf-8483-4772-8e79-3d69d8477de4',
  /** "flatcar-reserved": OEM-CONFIG. */
  reserved: 'c95dc21a-df0e-4340-8d7b-26cbfa9a03e0',
  /** "flatcar-resize": ROOT, grown on first boot. */
  resize: '3884dd41-8582-4404-b9a8-e9b84f2df50e',
} as const;

export type FilesystemKind = 'ext' | 'btrfs' | 'unknown';

export interface FlatcarLayout {
  partitions: GptPartition[];
  usrA: GptPartition;
  oem: GptPartition;
  root: GptPartition;
}

/**
 * The partitions bake needs, found by GPT name (offsets change between releases), with the
 * file systems Flatcar puts there: anything else is an unknown layout and refused.
 */
export async function readFlatcarLayout(disk: string, shownAs = disk): Promise<FlatcarLayout> {
  const partitions = await readGpt(disk).catch((error: Error) => {
    throw new BakeError(error.message.replaceAll(disk, shownAs));
  });
  const byName = (label: string) => {
    const found = partitions.filter((p) => p.label === label);
    if (found.length !== 1)
      throw new BakeError(
        `${shownAs}: unknown disk layout: expected one GPT partition named ${label}, found ${found.length} (partitions: ${partitions.map((p) => p.label || `#${p.number}`).join(', ')}). Pass a Flatcar disk image (flatcar_production_image.bin)`,
      );
    return found[0]!;
  };
  const layout = { partitions, usrA: byName('USR-A'), oem: byName('OEM'), root: byName('ROOT') };
  const expect = async (part: GptPartition, fs: FilesystemKind, what: string) => {
    const found = await filesystemKind(disk, part);
    if (found !== fs) throw new BakeError(`${shownAs}: unknown disk layout: partition ${part.number} (${part.label}) should hold ${what}, but holds ${found === 'unknown' ? 'no file system bake knows' : found}`);
  };
  await expect(layout.root, 'ext', 'an ext4 file system');
  await expect(layout.oem, 'btrfs', 'a btrfs file system');
  return layout;
}

const EXT_MAGIC_OFFSET = 1024 + 0x38;
const BTRFS_SUPER = 65536;
const BTRFS_MAGIC = '_BHRfS_M';

export async function filesystemKind(disk: string, part: GptPartition): Promise<FilesystemKind> {
  const head = await readRange(disk, part.offset, Math.min(part.size, BTRFS_SUPER + 4096));
  if (head.length >= EXT_MAGIC_OFFSET + 2 && head.readUInt16LE(EXT_MAGIC_OFFSET) === 0xef53) return 'ext';
  if (head.length >= BTRFS_SUPER + 72 && head.toString('latin1', BTRFS_SUPER + 64, BTRFS_SUPER + 72) === BTRFS_MAGIC) return 'btrfs';
  return 'unknown';
}

export interface Ext4Superblock {
  blockSize: number;
  freeBlocks: number;
  mkfsTime: number;
}

export async function readExt4Superblock(disk: string, part: GptPartition): Promise<Ext4Superblock> {
  const sb = await readRange(disk, part.offset + 1024, 1024);
  const incompat = sb.readUInt32LE(0x60);
  const is64bit = (incompat & 0x80) !== 0;
  return {
    blockSize: 1024 << sb.readUInt32LE(0x18),
    freeBlocks: sb.readUInt32LE(0x0c) + (is64bit ? sb.readUInt32LE(0x158) * 2 ** 32 : 0),
    mkfsTime: sb.readUInt32LE(0x108),
  };
}

export interface BtrfsSuperblock {
  fsid: string;
  label: string;
  totalBytes: number;
}

export async function readBtrfsSuperblock(disk: string, part: GptPartition): Promise<BtrfsSuperblock> {
  const sb = await readRange(disk, part.offset + BTRFS_SUPER, 4096);
  const hex = sb.subarray(32, 48).toString('hex');
  return {
    fsid: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    totalBytes: Number(sb.readBigUInt64LE(0x70)),
    label: sb.toString('utf8', 0x12b, 0x12b + 256).replace(/\0.*$/s, ''),
  };
}

export async function readRange(file: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const bytes = Buffer.alloc(length);
    const { bytesRead } = await handle.read(bytes, 0, length, offset);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
