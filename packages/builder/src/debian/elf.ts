import { open, type FileHandle } from 'node:fs/promises';

/** What relocation needs to know about an ELF file, read from its headers and dynamic section. */
export interface ElfInfo {
  /** e_machine (0x3e x86-64, 0xb7 aarch64). */
  machine: number;
  /** e_type: ET_EXEC (2) or ET_DYN (3) are the loadable kinds. */
  type: number;
  /**
   * Both supported architectures use 64-bit little-endian ELF; other layouts (firmware, 32-bit
   * helpers) are only classified by machine and type, never patched.
   */
  is64LittleEndian: boolean;
  /** PT_INTERP: set on dynamically linked executables (and on libc.so.6, which can be run). */
  interpreter: string | undefined;
  /** DT_NEEDED sonames, in file order. */
  needed: string[];
}

export const ET_EXEC = 2;
export const ET_DYN = 3;
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

/** Reads `file`'s ELF headers; undefined when it is not an ELF file. Reads only the parts it needs, never the whole file. */
export async function readElf(file: string): Promise<ElfInfo | undefined> {
  const handle = await open(file, 'r');
  try {
    const header = await readAt(handle, 0, 64);
    if (header.length < 20 || header.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const little = header[5] === 1;
    const machine = little ? header.readUInt16LE(18) : header.readUInt16BE(18);
    const type = little ? header.readUInt16LE(16) : header.readUInt16BE(16);
    if (!(little && header[4] === 2 && header.length === 64)) return { machine, type, is64LittleEndian: false, interpreter: undefined, needed: [] };

    const segments = await readSegments(handle, header);
    const interp = segments.find((s) => s.type === PT_INTERP);
    const interpreter = interp ? cString(await readAt(handle, interp.offset, interp.filesz), 0) : undefined;
    const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
    const needed = dynamic ? await readNeeded(handle, dynamic, segments) : [];
    return { machine, type, is64LittleEndian: true, interpreter, needed };
  } finally {
    await handle.close();
  }
}

async function readSegments(handle: FileHandle, header: Buffer): Promise<Segment[]> {
  const phoff = Number(header.readBigUInt64LE(32));
  const phentsize = header.readUInt16LE(54);
  const phnum = header.readUInt16LE(56);
  const table = await readAt(handle, phoff, phentsize * phnum);
  const segments: Segment[] = [];
  for (let at = 0; at + 56 <= table.length; at += phentsize) {
    segments.push({
      type: table.readUInt32LE(at),
      offset: Number(table.readBigUInt64LE(at + 8)),
      vaddr: Number(table.readBigUInt64LE(at + 16)),
      filesz: Number(table.readBigUInt64LE(at + 32)),
    });
  }
  return segments;
}

/** DT_NEEDED entries are offsets into the string table, which DT_STRTAB gives as a virtual address: PT_LOAD maps it to the file. */
async function readNeeded(handle: FileHandle, dynamic: Segment, segments: readonly Segment[]): Promise<string[]> {
  const table = await readAt(handle, dynamic.offset, dynamic.filesz);
  const neededOffsets: number[] = [];
  let strtab: number | undefined;
  let strsz = 0;
  for (let at = 0; at + 16 <= table.length; at += 16) {
    const tag = table.readBigInt64LE(at);
    const value = Number(table.readBigUInt64LE(at + 8));
    if (tag === 0n) break;
    if (tag === DT_NEEDED) neededOffsets.push(value);
    else if (tag === DT_STRTAB) strtab = value;
    else if (tag === DT_STRSZ) strsz = value;
  }
  if (neededOffsets.length === 0 || strtab === undefined) return [];
  const address = strtab;
  const load = segments.find((s) => s.type === PT_LOAD && s.vaddr <= address && address < s.vaddr + s.filesz);
  if (!load) return [];
  const strings = await readAt(handle, address - load.vaddr + load.offset, strsz);
  return neededOffsets.map((offset) => cString(strings, offset));
}

function cString(buffer: Buffer, offset: number): string {
  const end = buffer.indexOf(0, offset);
  return buffer.toString('latin1', offset, end === -1 ? buffer.length : end);
}

/** Up to `length` bytes at `offset`; shorter at the end of the file. */
export async function readAt(handle: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, offset);
  return buffer.subarray(0, bytesRead);
}
