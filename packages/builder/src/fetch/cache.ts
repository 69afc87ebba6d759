import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, open, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

/** $BAKEHOUSE_CACHE_DIR, else $XDG_CACHE_HOME/bakehouse, else ~/.cache/bakehouse. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BAKEHOUSE_CACHE_DIR) return path.resolve(env.BAKEHOUSE_CACHE_DIR);
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) return path.join(env.XDG_CACHE_HOME, 'bakehouse');
  return path.join(env.HOME || os.homedir(), '.cache', 'bakehouse');
}

/** Where the entries live; temp files are made here too, so that renaming one into place is atomic. */
export function cacheEntriesDir(cacheDir: string): string {
  return path.resolve(cacheDir, 'sha256');
}

/** Content-addressed: the file's own sha256 is its name, so any build can share any entry. */
export function cacheEntryPath(cacheDir: string, sha256: string): string {
  return path.join(cacheEntriesDir(cacheDir), sha256);
}

/**
 * True when the entry exists and still hashes to its name. A corrupted entry (bad disk,
 * a crash before the data reached it, someone editing the cache) is deleted so it is fetched again.
 */
export async function isIntactEntry(entryPath: string, sha256: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(entryPath, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  try {
    if ((await sha256Of(handle.createReadStream({ autoClose: false }))) === sha256) return true;
    await removeIfStillSameFile(entryPath, await handle.stat());
    return false;
  } finally {
    await handle.close();
  }
}

/**
 * Streams `body` into a temp file in the cache, hashing on the way, and renames it into place as
 * the entry of its hash, only if that hash is `expectedSha256` (or any hash, when it is undefined:
 * a file whose checksum is not known yet). Being in the same directory makes the rename atomic, so
 * the entry is either absent or complete, and processes racing to fill one entry just replace
 * identical bytes. No fsync: every use re-hashes the entry, which catches what a crash could leave
 * behind. Returns the sha256 of what arrived; the temp file never outlives the call.
 */
export async function writeEntry(
  cacheDir: string,
  expectedSha256: string | undefined,
  body: AsyncIterable<Uint8Array>,
  onBytes?: (bytes: number) => void,
): Promise<string> {
  const tempPath = path.join(cacheEntriesDir(cacheDir), `.tmp-${expectedSha256 ?? 'unpinned'}-${randomBytes(6).toString('hex')}`);
  const hash = createHash('sha256');
  try {
    await pipeline(
      body,
      async function* (chunks: AsyncIterable<Uint8Array>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          onBytes?.(chunk.length);
          yield chunk;
        }
      },
      createWriteStream(tempPath, { flags: 'wx' }),
    );
    const actual = hash.digest('hex');
    if (expectedSha256 === undefined || actual === expectedSha256) await rename(tempPath, cacheEntryPath(cacheDir, actual));
    return actual;
  } finally {
    await rm(tempPath, { force: true });
  }
}

async function sha256Of(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

/** Another process may have renamed a good copy into place since we hashed; that one must stay. */
async function removeIfStillSameFile(entryPath: string, hashed: { dev: number; ino: number }): Promise<void> {
  const current = await lstat(entryPath).catch(() => undefined);
  if (current?.dev === hashed.dev && current.ino === hashed.ino) await rm(entryPath, { force: true });
}
