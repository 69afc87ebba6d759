import { open } from 'node:fs/promises';
import { readAt } from './elf.js';

const PT_GNU_PROPERTY = 0x6474e553;
const SECTION = '.note.gnu.property';

/**
 * Points PT_GNU_PROPERTY back at the .note.gnu.property section after patchelf moved that
 * section. patchelf before 0.17 (Debian 12 has 0.14.3) moves the section to make room for a
 * longer interpreter and updates the PT_NOTE that covers it, but leaves PT_GNU_PROPERTY on the
 * old bytes (NixOS/patchelf#414). On arm64 the kernel reads PT_GNU_PROPERTY for BTI and refuses
 * to exec a file whose note there is invalid (ENOEXEC). Returns whether it had to fix the file.
 * Does nothing for a file without that section or segment, or where they already agree.
 */
export async function syncGnuProperty(file: string): Promise<boolean> {
  const handle = await open(file, 'r+');
  try {
    const header = await readAt(handle, 0, 64);
    const phoff = Number(header.readBigUInt64LE(32));
    const [phentsize, phnum] = [header.readUInt16LE(54), header.readUInt16LE(56)];
    const shoff = Number(header.readBigUInt64LE(40));
    const [shentsize, shnum, shstrndx] = [header.readUInt16LE(58), header.readUInt16LE(60), header.readUInt16LE(62)];
    if (shoff === 0 || shnum === 0) return false;

    const sections = await readAt(handle, shoff, shentsize * shnum);
    const names = sections.subarray(shstrndx * shentsize);
    const namesTable = await readAt(handle, Number(names.readBigUInt64LE(24)), Number(names.readBigUInt64LE(32)));
    let note: { addr: bigint; offset: bigint; size: bigint } | undefined;
    for (let at = 0; at + 64 <= sections.length; at += shentsize) {
      const nameStart = sections.readUInt32LE(at);
      if (namesTable.toString('latin1', nameStart, nameStart + SECTION.length + 1) !== `${SECTION}\0`) continue;
      note = { addr: sections.readBigUInt64LE(at + 16), offset: sections.readBigUInt64LE(at + 24), size: sections.readBigUInt64LE(at + 32) };
    }
    if (!note) return false;

    const table = await readAt(handle, phoff, phentsize * phnum);
    for (let at = 0; at + 56 <= table.length; at += phentsize) {
      if (table.readUInt32LE(at) !== PT_GNU_PROPERTY || table.readBigUInt64LE(at + 8) === note.offset) continue;
      const fields = Buffer.alloc(40);
      [note.offset, note.addr, note.addr, note.size, note.size].forEach((value, i) => fields.writeBigUInt64LE(value, i * 8));
      await handle.write(fields, 0, fields.length, phoff + at + 8); // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz
      return true;
    }
    return false;
  } finally {
    await handle.close();
  }
}
