import { open } from 'node:fs/promises';

/** One GPT partition entry, as the disk image's table records it. */
export interface GptPartition {
  /** Partition type GUID, lower case. */
  type: string;
  /** Unique partition GUID, lower case. */
  uuid: string;
  /** The UTF-16 partition name (systemd-repart writes e.g. "root-x86-64-verity"). */
  label: string;
  /** Byte offset of the partition in the image. */
  offset: number;
  /** Size in bytes. */
  size: number;
}

export class GptError extends Error {
  override readonly name = 'GptError';
}

const SECTOR = 512;
const SIGNATURE = 'EFI PART';

/**
 * Reads the primary GPT of a disk image file (512-byte sectors, as systemd-repart writes
 * image files). Only what verification needs: no CRC repair, no backup table.
 */
export async function readGpt(file: string): Promise<GptPartition[]> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(SECTOR);
    await handle.read(header, 0, SECTOR, SECTOR);
    if (header.toString('latin1', 0, 8) !== SIGNATURE) throw new GptError(`${file} has no GPT partition table (no "${SIGNATURE}" at LBA 1): it is not a disk image`);
    const entriesLba = Number(header.readBigUInt64LE(72));
    const count = header.readUInt32LE(80);
    const entrySize = header.readUInt32LE(84);
    if (count > 1024 || entrySize < 128 || entrySize > 4096) throw new GptError(`${file}: implausible GPT header (${count} entries of ${entrySize} bytes)`);
    const table = Buffer.alloc(count * entrySize);
    await handle.read(table, 0, table.length, entriesLba * SECTOR);
    const partitions: GptPartition[] = [];
    for (let i = 0; i < count; i++) {
      const entry = table.subarray(i * entrySize, (i + 1) * entrySize);
      const type = guid(entry.subarray(0, 16));
      if (type === '00000000-0000-0000-0000-000000000000') continue;
      const first = Number(entry.readBigUInt64LE(32));
      const last = Number(entry.readBigUInt64LE(40));
      partitions.push({
        type,
        uuid: guid(entry.subarray(16, 32)),
        label: entry.subarray(56, 128).toString('utf16le').replace(/\0.*$/s, ''),
        offset: first * SECTOR,
        size: (last - first + 1) * SECTOR,
      });
    }
    return partitions;
  } finally {
    await handle.close();
  }
}

/** GUIDs are stored mixed-endian: the first three fields little-endian, the rest as bytes. */
function guid(bytes: Buffer): string {
  const hex = (b: Buffer) => b.toString('hex');
  const reversed = (start: number, end: number) => hex(Buffer.from(bytes.subarray(start, end)).reverse());
  return `${reversed(0, 4)}-${reversed(4, 6)}-${reversed(6, 8)}-${hex(bytes.subarray(8, 10))}-${hex(bytes.subarray(10, 16))}`;
}
