import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ExtractError, listTree, unpackInput, UnsafeArchiveError } from '@bakehouse/builder';
import { ELF_HEADER_BYTES, elfMachine } from './elf.js';
import { TorcxError } from './errors.js';
import type { TorcxImageName } from './image-name.js';
import type { ArchiveItem, TorcxInventory } from './plan.js';

/** Unit files and drop-ins are small; anything larger under lib/systemd/ is not one. */
const MAX_TEXT_BYTES = 1024 * 1024;
const TEXT_PATH = /^(usr\/)?lib\/systemd\/|^\.torcx\/manifest\.json$/;

/**
 * Unpacks the whole Torcx image into `rawDir` with the builder's unpacker (tar-stream, so a
 * colon in the file name means nothing; hostile entries, truncated archives and compression
 * bombs are refused with nothing left behind) and lists what it holds, with the text of
 * units and the ELF header of every file.
 */
export async function readTorcxImage(file: string, image: TorcxImageName, rawDir: string): Promise<TorcxInventory> {
  try {
    // The unpacker reads only the name (for messages), the kind and the rules; the file is local, so nothing is pinned.
    await unpackInput(file, { name: image.name, kind: 'tar.gz', version: image.reference ?? '', url: '', sha256: '', pinnedBy: 'lock', extract: [{ from: './', to: '/' }] }, rawDir);
  } catch (error) {
    if (error instanceof UnsafeArchiveError || error instanceof ExtractError)
      throw new TorcxError(`cannot convert ${image.file}, nothing was written: ${error.message}`, { cause: error });
    throw error;
  }
  const items: ArchiveItem[] = [];
  for (const entry of await listTree(rawDir)) {
    const archivePath = entry.path.slice(1);
    if (entry.type === 'symlink') items.push({ path: archivePath, type: 'symlink', target: entry.target ?? '' });
    else if (entry.type === 'file') items.push(await describeFile(path.join(rawDir, archivePath), archivePath, entry.size));
  }
  return { image, items };
}

async function describeFile(file: string, archivePath: string, size: number): Promise<ArchiveItem> {
  const handle = await open(file, 'r');
  let header: Buffer;
  try {
    const buffer = Buffer.alloc(ELF_HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, ELF_HEADER_BYTES, 0);
    header = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const elf = elfMachine(header);
  if (elf) return { path: archivePath, type: 'file', elf };
  if (!TEXT_PATH.test(archivePath) || size > MAX_TEXT_BYTES) return { path: archivePath, type: 'file' };
  const text = await readFile(file, 'utf8');
  return text.includes('\0') ? { path: archivePath, type: 'file' } : { path: archivePath, type: 'file', text };
}
