import { chmod, lchown, lutimes, mkdir, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BakeError } from './errors.js';
import { TOOL_ENV } from './tools.js';

/**
 * Runs a tool as root where it must own files as root: directly when we are root, otherwise in
 * a user namespace (unshare --map-root-user) where our own uid is root, so the files btrfs
 * restore writes and mkfs.btrfs reads are root-owned inside the new file system.
 */
function asRoot(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? [command, args] : ['unshare', ['--map-root-user', '--', command, ...args]];
}

/** Copies every file of a btrfs image file into `dir`, with owners, modes, times, xattrs and symlinks. */
export async function restoreBtrfs(image: string, dir: string, name: string): Promise<void> {
  const [command, args] = asRoot('btrfs', ['restore', '-S', '-x', '-m', image, dir]);
  const result = await execa(command, args, { reject: false, all: true, env: TOOL_ENV });
  if (result.exitCode !== 0) throw new BakeError(`${name}: btrfs restore cannot read the file system: ${(result.all ?? '').trim()}`);
}

export interface BtrfsIdentity {
  label: string;
  fsid: string;
  /** The file system's size in bytes (dev_item total_bytes): the new one gets the same. */
  size: number;
}

/**
 * A new btrfs of exactly `identity.size` bytes, with the same label and UUID, holding `dir`.
 * Checked against the size afterwards: mkfs.btrfs grows a file that is below its minimum.
 */
export async function makeBtrfs(dir: string, image: string, identity: BtrfsIdentity, name: string, contentBytes: number): Promise<void> {
  await writeFile(image, '');
  await truncate(image, identity.size);
  const [command, args] = asRoot('mkfs.btrfs', ['-q', '-f', '-L', identity.label, '-U', identity.fsid, '-b', String(identity.size), '--rootdir', dir, image]);
  const result = await execa(command, args, { reject: false, all: true, env: TOOL_ENV });
  const output = (result.all ?? '').trim();
  if (result.exitCode !== 0) {
    if (/space|too small|ENOSPC/i.test(output))
      throw new BakeError(
        `${name} is too small: its ${mib(identity.size)} btrfs cannot hold the ${mib(contentBytes)} of files it would then contain (mkfs.btrfs: ${lastLine(output)}). ` +
          `Free about ${mib(Math.max(contentBytes + METADATA_RESERVE - identity.size, 1 << 20))} on it, or bake the large images into ROOT (EXT=root)`,
      );
    throw new BakeError(`${name}: mkfs.btrfs failed: ${output}`);
  }
  const made = (await stat(image)).size;
  if (made !== identity.size) throw new BakeError(`${name}: mkfs.btrfs needs at least ${mib(made)} for a file system, the partition's holds ${mib(identity.size)}`);
}

/** What a small btrfs spends on its own metadata and system chunks (DUP metadata), for the "how much is missing" estimate. */
export const METADATA_RESERVE = 16 << 20;

/** Sets the owner (root), mode and times of a path the bake wrote into a tree for mkfs.btrfs. */
export async function settle(file: string, mode: number | undefined, time: number): Promise<void> {
  if (process.getuid?.() === 0) await lchown(file, 0, 0);
  if (mode !== undefined) await chmod(file, mode);
  await lutimes(file, time, time);
}

/** Bytes the files under `dir` occupy, each rounded up to 4 KiB. */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    total += Math.ceil((await stat(path.join(entry.parentPath, entry.name))).size / 4096) * 4096;
  }
  return total;
}

export async function ensureDir(dir: string, time: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await settle(dir, 0o755, time);
}

const lastLine = (text: string) => text.split('\n').filter(Boolean).pop() ?? '';
export const mib = (bytes: number) => `${(bytes / (1 << 20)).toFixed(1)} MiB`;
