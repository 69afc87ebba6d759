import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { EntryHandler, EntryType } from './archive-entry.js';
import { type TarKind, openTarStream } from './decompress.js';

/** Keyed by string: tar-stream reports typeflags it does not know as null, whatever its types say. */
const ENTRY_TYPES: Partial<Record<string, EntryType>> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'character device',
  'block-device': 'block device',
  fifo: 'FIFO',
};

/** Streams the entries of a (compressed) tar to `onEntry`, one at a time, without buffering contents. */
export async function readTar(kind: TarKind, file: string, onEntry: EntryHandler): Promise<void> {
  const source = openTarStream(kind, file);
  const extract = tar.extract();
  source.on('error', (error) => extract.destroy(error));
  extract.on('close', () => source.destroy());
  source.pipe(extract);

  for await (const entry of extract) {
    const { header } = entry;
    let opened = false;
    await onEntry({
      name: header.name,
      type: ENTRY_TYPES[String(header.type)] ?? 'unsupported entry',
      // Some tars store the file-type bits in the mode field too.
      mode: header.mode & 0o7777,
      linkName: header.linkname ?? undefined,
      open: async () => {
        opened = true;
        // tar-stream's entries are streamx streams; Readable.from makes them Node streams for pipeline().
        return Readable.from(entry);
      },
    });
    // tar-stream cannot reach the next header before this entry's data has been read.
    if (!opened) entry.resume();
  }
}
