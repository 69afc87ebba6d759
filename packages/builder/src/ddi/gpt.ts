import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/** One GPT partition entry, as the disk image's table records it. */
export interface GptPartition {
  /** 1-based entry number (the N of /dev/sdaN). */
  number: number;
  /** Partition type GUID, lower case. */
  type: string;
  /** Unique partition GUID, lower case. */
  uuid: string;
  /** The UTF-16 partition name (systemd-repart writes e.g. "root-x86-64-verity"; Flatcar "USR-A", "ROOT"). */
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
const UNUSED = '00000000-0000-0000-0000-000000000000';

interface Header {
  currentLba: number;
  backupLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  entriesLba: number;
  count: number;
  entrySize: number;
  entriesCrc: number;
}

/**
 * Reads and verifies the GPT of a disk image file (512-byte sectors, as systemd-repart and
 * Flatcar write image files): the primary and the backup header, both CRC32s of each, that
 * both hold the same entries, and that every partition lies inside the usable area. No repair:
 * a table that fails a check is refused, naming the check.
 */
export async function readGpt(file: string): Promise<GptPartition[]> {
  const handle = await open(file, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    const readAt = async (offset: number, length: number, what: string) => {
      const bytes = Buffer.alloc(length);
      const { bytesRead } = await handle.read(bytes, 0, length, offset);
      if (bytesRead !== length) throw new GptError(`${file}: the ${what} lies beyond the end of the file (${fileSize} bytes): the image is truncated`);
      return bytes;
    };
    const primary = parseHeader(file, 'primary', await readAt(SECTOR, SECTOR, 'primary GPT header'), 1);
    const primaryEntries = await readAt(primary.entriesLba * SECTOR, primary.count * primary.entrySize, 'primary GPT entry array');
    checkEntriesCrc(file, 'primary', primary, primaryEntries);
    if (primary.backupLba * SECTOR + SECTOR > fileSize)
      throw new GptError(`${file}: the backup GPT header should be at LBA ${primary.backupLba}, beyond the end of the file (${fileSize} bytes): the image is truncated`);
    const backup = parseHeader(file, 'backup', await readAt(primary.backupLba * SECTOR, SECTOR, 'backup GPT header'), primary.backupLba);
    const backupEntries = await readAt(backup.entriesLba * SECTOR, backup.count * backup.entrySize, 'backup GPT entry array');
    checkEntriesCrc(file, 'backup', backup, backupEntries);
    if (backup.backupLba !== 1 || !primaryEntries.equals(backupEntries) || backup.firstUsableLba !== primary.firstUsableLba || backup.lastUsableLba !== primary.lastUsableLba)
      throw new GptError(`${file}: the primary and backup GPT disagree: the table is damaged (repair it with sgdisk --verify / gdisk)`);
    return parseEntries(file, primary, primaryEntries);
  } finally {
    await handle.close();
  }
}

function parseHeader(file: string, which: string, header: Buffer, expectedLba: number): Header {
  if (header.toString('latin1', 0, 8) !== SIGNATURE)
    throw new GptError(
      which === 'primary'
        ? `${file} has no GPT partition table (no "${SIGNATURE}" at LBA 1): it is not a disk image`
        : `${file} has no backup GPT header (no "${SIGNATURE}" at LBA ${expectedLba}): the table is damaged or the image truncated (repair it with sgdisk -e)`,
    );
  const headerSize = header.readUInt32LE(12);
  if (headerSize < 92 || headerSize > SECTOR) throw new GptError(`${file}: the ${which} GPT header claims an implausible size of ${headerSize} bytes`);
  const stored = header.readUInt32LE(16);
  const zeroed = Buffer.from(header.subarray(0, headerSize));
  zeroed.writeUInt32LE(0, 16);
  if (crc32(zeroed) !== stored) throw new GptError(`${file}: the ${which} GPT header fails its CRC32 check: the table is corrupted`);
  const parsed: Header = {
    currentLba: Number(header.readBigUInt64LE(24)),
    backupLba: Number(header.readBigUInt64LE(32)),
    firstUsableLba: Number(header.readBigUInt64LE(40)),
    lastUsableLba: Number(header.readBigUInt64LE(48)),
    entriesLba: Number(header.readBigUInt64LE(72)),
    count: header.readUInt32LE(80),
    entrySize: header.readUInt32LE(84),
    entriesCrc: header.readUInt32LE(88),
  };
  if (parsed.currentLba !== expectedLba) throw new GptError(`${file}: the ${which} GPT header says it is at LBA ${parsed.currentLba}, but it was read at LBA ${expectedLba}`);
  if (parsed.count > 1024 || parsed.entrySize < 128 || parsed.entrySize > 4096 || parsed.entrySize % 8 !== 0)
    throw new GptError(`${file}: implausible ${which} GPT header (${parsed.count} entries of ${parsed.entrySize} bytes)`);
  return parsed;
}

function checkEntriesCrc(file: string, which: string, header: Header, entries: Buffer): void {
  if (crc32(entries) !== header.entriesCrc) throw new GptError(`${file}: the ${which} GPT partition entries fail their CRC32 check: the table is corrupted`);
}

function parseEntries(file: string, header: Header, table: Buffer): GptPartition[] {
  const partitions: GptPartition[] = [];
  for (let i = 0; i < header.count; i++) {
    const entry = table.subarray(i * header.entrySize, (i + 1) * header.entrySize);
    const type = guid(entry.subarray(0, 16));
    if (type === UNUSED) continue;
    const first = Number(entry.readBigUInt64LE(32));
    const last = Number(entry.readBigUInt64LE(40));
    const label = entry.subarray(56, 128).toString('utf16le').replace(/\0.*$/s, '');
    if (first < header.firstUsableLba || last > header.lastUsableLba || last < first)
      throw new GptError(`${file}: partition ${i + 1} ("${label}") spans LBA ${first}–${last}, outside the usable area ${header.firstUsableLba}–${header.lastUsableLba}`);
    partitions.push({ number: i + 1, type, uuid: guid(entry.subarray(16, 32)), label, offset: first * SECTOR, size: (last - first + 1) * SECTOR });
  }
  return partitions;
}

/** GUIDs are stored mixed-endian: the first three fields little-endian, the rest as bytes. */
function guid(bytes: Buffer): string {
  const hex = (b: Buffer) => b.toString('hex');
  const reversed = (start: number, end: number) => hex(Buffer.from(bytes.subarray(start, end)).reverse());
  return `${reversed(0, 4)}-${reversed(4, 6)}-${reversed(6, 8)}-${hex(bytes.subarray(8, 10))}-${hex(bytes.subarray(10, 16))}`;
}
