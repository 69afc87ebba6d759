import { readlinkSync } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Temporary files and directories (cache downloads in progress, images being written, stage
 * trees) carry their owner in their name: the PID namespace and the PID. A build killed with
 * SIGKILL runs no cleanup, so the next build removes what dead owners left behind. Owners in
 * another PID namespace (a container sharing the cache) cannot be checked, so their leftovers
 * go only once they have been idle for a long time.
 */
const FOREIGN_IDLE_MS = 6 * 60 * 60 * 1000;

/** "<pidns inode>-<pid>", safe in file names. */
export const OWNER_TAG = `${pidNamespace()}-${process.pid}`;

const TAG_PATTERN = /(?:^|[.-])owner-(\d+)-(\d+)-/;

/** A name prefix carrying this process as owner: `${stem}owner-<ns>-<pid>-`. */
export function ownedName(stem: string): string {
  return `${stem}owner-${OWNER_TAG}-`;
}

/** Removes the entries of `dir` whose names start with `prefix` and whose owner is gone. Returns what it removed. */
export async function sweepAbandoned(dir: string, prefix: string): Promise<string[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const owner = TAG_PATTERN.exec(name);
    if (!owner) continue;
    const file = path.join(dir, name);
    if (!(await isAbandoned(file, owner[1] ?? '', Number(owner[2])))) continue;
    await rm(file, { recursive: true, force: true });
    removed.push(file);
  }
  return removed;
}

async function isAbandoned(file: string, namespace: string, pid: number): Promise<boolean> {
  if (namespace === pidNamespace()) return pid !== process.pid && !isAlive(pid);
  const info = await lstat(file).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > FOREIGN_IDLE_MS;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it just is not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}
