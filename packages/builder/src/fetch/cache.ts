import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic } from '../atomic.js';
import { ownedName, sweepAbandoned } from '../scratch.js';

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
 *
 * Hashing every entry on every use costs as much as a fast download, so a verified entry gets
 * a stat record (device, inode, size, mtime and ctime in nanoseconds) in CACHE/verified/, and
 * an entry whose stat still matches its record is trusted without re-hashing. Any write to
 * the file, and any replacement of it, changes its ctime or inode, which user space cannot set
 * back; what the record cannot see is the disk silently flipping bits under an unchanged inode.
 */
export async function isIntactEntry(entryPath: string, sha256: string): Promise<boolean> {
  const current = await lstat(entryPath, { bigint: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (current === undefined) return false;
  const record = verifiedRecordPath(entryPath, sha256);
  if (current.isFile() && (await readFile(record, 'utf8').catch(() => '')) === statStamp(sha256, current)) return true;
  let handle;
  try {
    handle = await open(entryPath, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  try {
    if ((await sha256Of(handle.createReadStream({ autoClose: false }))) === sha256) {
      await recordVerified(entryPath, sha256, await handle.stat({ bigint: true }));
      return true;
    }
    await rm(record, { force: true });
    await removeIfStillSameFile(entryPath, await handle.stat());
    return false;
  } finally {
    await handle.close();
  }
}

/** CACHE/verified/<hex>, beside CACHE/sha256/ so that a copy of sha256/ (a mirror) carries no records. */
function verifiedRecordPath(entryPath: string, sha256: string): string {
  return path.join(path.dirname(path.dirname(entryPath)), 'verified', sha256);
}

function statStamp(sha256: string, st: BigIntStats): string {
  return `${sha256} dev=${st.dev} ino=${st.ino} size=${st.size} mtime=${st.mtimeNs} ctime=${st.ctimeNs}\n`;
}

/** Best effort: without a record the entry is simply hashed again next time. */
async function recordVerified(entryPath: string, sha256: string, st: BigIntStats): Promise<void> {
  const record = verifiedRecordPath(entryPath, sha256);
  try {
    await mkdir(path.dirname(record), { recursive: true });
    await writeFileAtomic(record, statStamp(sha256, st));
  } catch {
    await rm(record, { force: true }).catch(() => undefined);
  }
}

/**
 * Streams `body` into a temp file in the cache, hashing on the way, and renames it into place as
 * the entry of its hash, only if that hash is `expectedSha256` (or any hash, when it is undefined:
 * a file whose checksum is not known yet). Being in the same directory makes the rename atomic, so
 * the entry is either absent or complete, and processes racing to fill one entry just replace
 * identical bytes. The data is synced before the rename: later uses trust the entry by its stat
 * record, so it must not be able to lose its content in a crash after being recorded. Returns the
 * sha256 of what arrived; the temp file never outlives the call.
 */
export async function writeEntry(
  cacheDir: string,
  expectedSha256: string | undefined,
  body: AsyncIterable<Uint8Array>,
  onBytes?: (bytes: number) => void,
): Promise<string> {
  const tempPath = path.join(cacheEntriesDir(cacheDir), `${ownedName(`.tmp-${expectedSha256 ?? 'unpinned'}-`)}${randomBytes(6).toString('hex')}`);
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
    if (expectedSha256 === undefined || actual === expectedSha256) {
      const written = await open(tempPath, 'r');
      await written.sync().finally(() => written.close());
      const entry = cacheEntryPath(cacheDir, actual);
      await rename(tempPath, entry);
      // Whatever is under this name now was hashed by whoever renamed it there.
      await recordVerified(entry, actual, await lstat(entry, { bigint: true }));
    }
    return actual;
  } finally {
    await rm(tempPath, { force: true });
  }
}

const swept = new Set<string>();

/**
 * Removes downloads that killed builds left half-written in the cache; once per cache and process,
 * before its first download. Only temp names are touched, never an entry.
 */
export async function sweepCache(cacheDir: string): Promise<void> {
  const dir = cacheEntriesDir(cacheDir);
  if (swept.has(dir)) return;
  swept.add(dir);
  await sweepAbandoned(dir, '.tmp-');
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
