import type { Readable } from 'node:stream';

export type EntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'hardlink'
  | 'character device'
  | 'block device'
  | 'FIFO'
  | 'socket'
  | 'unsupported entry';

/** One member of a tar or zip archive, as its reader saw it, before any validation. */
export interface ArchiveEntry {
  /** The name exactly as stored, used in error messages so users can find the entry. */
  name: string;
  type: EntryType;
  /** Permission bits (0o7777) as stored; undefined when the archive records none (zips made on Windows). */
  mode: number | undefined;
  /** Target of a symlink (relative to the link's directory) or of a hard link (relative to the archive root). */
  linkName: string | undefined;
  /** Streams the contents of a file entry. Contents not opened are skipped by the reader. */
  open(): Promise<Readable>;
}

/** Called once per entry, in archive order; the reader waits for it before reading on. */
export type EntryHandler = (entry: ArchiveEntry) => Promise<void>;
