import { open } from 'node:fs/promises';

const PT_GNU_PROPERTY = 0x6474e553;
const NT_GNU_PROPERTY_TYPE_0 = 5;

/**
 * The check Linux's binfmt_elf (parse_elf_properties) makes before it execs a file on arm64: the
 * bytes PT_GNU_PROPERTY points at must be a NT_GNU_PROPERTY_TYPE_0 note owned by "GNU".
 * Undefined when the file has no PT_GNU_PROPERTY. Read independently of the code under test.
 */
export async function gnuPropertyNoteIsValid(file: string): Promise<boolean | undefined> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(64);
    await handle.read(header, 0, 64, 0);
    const [phoff, phentsize, phnum] = [Number(header.readBigUInt64LE(32)), header.readUInt16LE(54), header.readUInt16LE(56)];
    const table = Buffer.alloc(phentsize * phnum);
    await handle.read(table, 0, table.length, phoff);
    for (let at = 0; at < table.length; at += phentsize) {
      if (table.readUInt32LE(at) !== PT_GNU_PROPERTY) continue;
      const note = Buffer.alloc(16);
      await handle.read(note, 0, 16, Number(table.readBigUInt64LE(at + 8)));
      return note.readUInt32LE(0) === 4 && note.readUInt32LE(8) === NT_GNU_PROPERTY_TYPE_0 && note.toString('latin1', 12, 16) === 'GNU\0';
    }
    return undefined;
  } finally {
    await handle.close();
  }
}
