import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { execa } from 'execa';
import lockfile from 'proper-lockfile';
import { BootTestError } from '../errors.js';
import { requireTool } from './tools.js';

/** The root disk's size unless a run asks for more. */
export const DEFAULT_DISK_MIB = 4096;

/**
 * A raw ext4 disk holding `root`, packed without root privileges or loop devices by
 * `mke2fs -d`, cached next to the root (its path names the root's hash) and shared by runs,
 * which boot copy-on-write overlays of it. Made under a temporary name and renamed into place.
 */
export async function ensureBaseDisk(root: string, sizeMiB: number, reserveMiB: number): Promise<string> {
  const disk = `${root}.disk-${sizeMiB}M.img`;
  if (await exists(disk)) return disk;
  // ext4's own metadata takes a few percent; a disk that cannot hold the root and the reserve is never made.
  const neededMiB = Math.ceil((await treeMiB(root)) * 1.08) + reserveMiB;
  if (neededMiB > sizeMiB) throw new BootTestError(`the VM disk of ${sizeMiB} MiB is too small for the testbed root and the ${reserveMiB} MiB the checks may need: pass --vm-disk-size ${Math.ceil(neededMiB / 512) * 512}`);
  await requireTool('mke2fs', 'e2fsprogs');
  const release = await lockfile.lock(disk, { realpath: false, lockfilePath: `${disk}.lock`, retries: { retries: 600, factor: 1, minTimeout: 1000, maxTimeout: 1000 }, onCompromised: () => {} });
  try {
    if (await exists(disk)) return disk;
    const partial = `${disk}.${randomBytes(6).toString('hex')}.partial`;
    try {
      await mke2fs(partial, root, sizeMiB, 'bakehouse-root');
      await rename(partial, disk);
    } finally {
      await rm(partial, { force: true });
    }
    return disk;
  } finally {
    await release().catch(() => {});
  }
}

/** ext4 with `tree`'s content, owners and modes; fixed UUID and hash seed so the same tree packs alike. */
export async function mke2fs(file: string, tree: string, sizeMiB: number, label: string): Promise<void> {
  await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', label, '-U', 'clear', '-E', 'hash_seed=00000000-0000-0000-0000-000000000000', '-d', tree, file, `${sizeMiB}M`], {
    env: { E2FSPROGS_FAKE_TIME: process.env.SOURCE_DATE_EPOCH ?? '0' },
  });
}

/** A qcow2 overlay whose reads fall through to `base`: the run writes only to its own file. */
export async function overlay(base: string, file: string): Promise<void> {
  await requireTool('qemu-img', 'qemu-utils');
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, file]);
}

/** Bytes in use below `dir`, as `du` counts them (what an ext4 disk of the tree needs, roughly). */
export async function treeMiB(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const { stdout } = await execa('du', ['-s', '--block-size=1M', dir]);
  return Number(stdout.split(/\s/)[0]);
}

/** Free MiB of an ext4 image, from its superblock. */
export async function freeMiB(image: string): Promise<number> {
  const { stdout } = await execa('dumpe2fs', ['-h', image], { stderr: 'ignore' });
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(stdout)?.[1] ?? Number.NaN);
  return Math.floor((field('Free blocks') * field('Block size')) / 2 ** 20);
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() ?? false;
}

