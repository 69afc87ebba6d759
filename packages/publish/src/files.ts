import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PublishError } from './errors.js';

/** Writes under a temporary name beside `target`, then renames: readers see the old file or the whole new one. */
export async function replaceAtomically(target: string, write: (partial: string) => Promise<void>): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const partial = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    await write(partial);
    await rename(partial, target);
  } finally {
    await rm(partial, { force: true });
  }
}

/** Writes `content` atomically unless the file already holds exactly it (so a republish touches nothing). Returns whether it wrote. */
export async function writeIfChanged(target: string, content: string | Buffer): Promise<boolean> {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  const existing = await readFile(target).catch(() => undefined);
  if (existing?.equals(bytes)) return false;
  await replaceAtomically(target, (partial) => writeFile(partial, bytes));
  return true;
}

export function copyAtomically(source: string, target: string): Promise<void> {
  return replaceAtomically(target, (partial) => copyFile(source, partial));
}

/** A previous release tree: a directory or a base URL. Reads small metadata files only, never images. */
export interface TreeSource {
  location: string;
  /** The file's bytes, or undefined when the tree has no such file. */
  read(relative: string): Promise<Buffer | undefined>;
}

export function openTreeSource(location: string): TreeSource {
  if (/^https?:\/\//.test(location)) {
    const base = location.replace(/\/+$/, '');
    return {
      location: base,
      read: async (relative) => {
        const response = await fetch(`${base}/${relative}`).catch((error: Error) => {
          throw new PublishError(`cannot read the previous tree at ${base}/${relative}: ${(error.cause as Error | undefined)?.message ?? error.message}`);
        });
        if (response.status === 404) return undefined;
        if (!response.ok) throw new PublishError(`cannot read the previous tree at ${base}/${relative}: HTTP ${response.status} ${response.statusText}`);
        return Buffer.from(await response.arrayBuffer());
      },
    };
  }
  return {
    location,
    read: (relative) =>
      readFile(path.join(location, relative)).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      }),
  };
}
