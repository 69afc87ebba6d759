import type { Readable } from 'node:stream';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import type { EntryHandler, EntryType } from './archive-entry.js';
import { type ArchiveContext, UnsafeArchiveError } from './errors.js';

/** "Version made by" hosts whose external attributes carry a Unix st_mode in the upper 16 bits. */
const UNIX_HOSTS = new Set([3 /* Unix */, 19 /* OS X */]);
const S_IFMT = 0o170000;
const UNIX_TYPES: Record<number, EntryType> = {
  0o100000: 'file',
  0o040000: 'directory',
  0o120000: 'symlink',
  0o020000: 'character device',
  0o060000: 'block device',
  0o010000: 'FIFO',
  0o140000: 'socket',
};
/** Linux's PATH_MAX: no genuine symlink target is longer, so longer "targets" are not read into memory. */
const MAX_SYMLINK_TARGET = 4096;

/**
 * Streams the entries of a zip to `onEntry`. Entries whose Unix mode says symlink become symlinks
 * (their content is the target, as Info-ZIP stores them); devices, FIFOs and sockets are passed
 * on as such so that the guard refuses them. Zips made on Windows record no mode: such entries
 * are plain files without an execute bit.
 */
export async function readZip(file: string, context: ArchiveContext, onEntry: EntryHandler): Promise<void> {
  // decodeStrings: false, because yauzl then reports a bad name as an error on the whole zip,
  // without saying which entry; decoding and validating here keeps the entry in the message.
  const zip = await yauzl.openPromise(file, { lazyEntries: true, decodeStrings: false });
  for await (const entry of zip.eachEntry()) {
    const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
    const problem = yauzl.validateFileName(name);
    if (problem !== null) throw new UnsafeArchiveError(context, name, `is refused by yauzl: ${problem}`);

    const { type, mode } = entryType(entry, name);
    await onEntry({
      name,
      type,
      mode,
      linkName: type === 'symlink' ? await readSymlinkTarget(zip, entry, context, name) : undefined,
      open: () => zip.openReadStreamPromise(entry),
    });
  }
}

function entryType(entry: Entry, name: string): { type: EntryType; mode: number | undefined } {
  if (name.endsWith('/')) return { type: 'directory', mode: undefined };
  const unixMode = UNIX_HOSTS.has(entry.versionMadeBy >> 8) ? entry.externalFileAttributes >>> 16 : 0;
  // Some tools set permission bits but leave the file type 0; that is a regular file.
  if ((unixMode & S_IFMT) === 0) return { type: 'file', mode: unixMode === 0 ? undefined : unixMode & 0o7777 };
  return { type: UNIX_TYPES[unixMode & S_IFMT] ?? 'unsupported entry', mode: unixMode & 0o7777 };
}

async function readSymlinkTarget(zip: ZipFile, entry: Entry, context: ArchiveContext, name: string): Promise<string> {
  // yauzl checks that the data really is uncompressedSize bytes long, so this bounds what is read.
  if (entry.uncompressedSize >= MAX_SYMLINK_TARGET)
    throw new UnsafeArchiveError(context, name, `is a symlink with a ${entry.uncompressedSize}-byte target`);
  const chunks: Buffer[] = [];
  const content: Readable = await zip.openReadStreamPromise(entry);
  for await (const chunk of content) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
