import { createHash } from 'node:crypto';
import path from 'node:path';
import { execa } from 'execa';
import type { ImageFormat } from '@bakehouse/schema';
import { replaceAtomically } from './atomic.js';
import { requireTool } from './tools.js';

export interface ImageRequest {
  stageDir: string;
  output: string;
  format: ImageFormat;
  /** squashfs only; erofs always uses lz4hc. */
  compression?: SquashfsCompression;
  sourceDateEpoch: number;
  /** Seeds the erofs filesystem UUID so the same inputs give the same bytes. */
  identity: string;
}

/**
 * xz in 1 MiB blocks: on the real binaries of the Debian closures (podman, oem-qemu,
 * oem-hyperv) it makes images about 0.72× the size of mksquashfs' default gzip, where xz
 * in 128 KiB blocks gives 0.83×, zstd 0.91×, zstd -19 in 1 MiB blocks 0.79× and erofs lz4hc
 * 1.22× (bench/README.md, `pnpm bench`). Flatcar's kernel reads squashfs xz; the price is
 * build time (about twice gzip's) and slower decompression on first read.
 */
export const SQUASHFS_COMPRESSORS = {
  xz: ['-comp', 'xz', '-b', '1M'],
  zstd: ['-comp', 'zstd', '-Xcompression-level', '19', '-b', '1M'],
  /** About 2.4× faster to build than xz and 1.3× larger: for quick iteration and tests, not releases. */
  gzip: ['-comp', 'gzip'],
} as const;
export type SquashfsCompression = keyof typeof SQUASHFS_COMPRESSORS;
export const SQUASHFS_COMPRESSION_NAMES = Object.keys(SQUASHFS_COMPRESSORS) as SquashfsCompression[];
export const DEFAULT_SQUASHFS_COMPRESSION: SquashfsCompression = 'xz';

export class ImageError extends Error {
  override readonly name = 'ImageError';
}

/**
 * Makes the image with the real mksquashfs / mkfs.erofs, atomically: a partial .raw is never visible.
 */
export async function makeImage(request: ImageRequest): Promise<{ tool: string; version: string }> {
  return replaceAtomically(request.output, (partial) => writeImage({ ...request, output: partial }));
}

/** Writes the image straight to `request.output`; callers make that a temporary name. */
export async function writeImage(request: ImageRequest): Promise<{ tool: string; version: string }> {
  const out = request.output;
  const epoch = String(request.sourceDateEpoch);
  if (request.format === 'squashfs') {
    const version = await requireTool('mksquashfs');
    await run('mksquashfs', [
      request.stageDir, out,
      ...SQUASHFS_COMPRESSORS[request.compression ?? DEFAULT_SQUASHFS_COMPRESSION],
      '-noappend', '-all-root', '-no-xattrs', '-reproducible',
      '-mkfs-time', epoch, '-all-time', epoch,
      '-quiet', '-no-progress',
    ], out);
    return { tool: 'mksquashfs', version };
  }
  const version = await requireTool('mkfs.erofs');
  await run('mkfs.erofs', [
    '-zlz4hc,12', '-C65536', '-Efragments,ztailpacking',
    `-U${uuidFrom(request.identity)}`, `-T${epoch}`, '--all-root', '--quiet',
    out, request.stageDir,
  ], out);
  return { tool: 'mkfs.erofs', version };
}

/**
 * Timestamps are passed as options; mksquashfs refuses SOURCE_DATE_EPOCH alongside them, so it is
 * not inherited. setpriv's parent-death signal ends the tool when the build is killed (even with
 * SIGKILL), so no orphan goes on writing an image nobody will rename into place.
 */
async function run(command: string, args: string[], out: string): Promise<void> {
  const { SOURCE_DATE_EPOCH: _, ...env } = process.env;
  await requireTool('setpriv');
  const result = await execa('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], { env, extendEnv: false, reject: false, all: true });
  if (result.exitCode === 0) return;
  const output = result.all ?? '';
  if (/no space left on device/i.test(output))
    throw new ImageError(`${command} ran out of space writing the image: the file system holding ${path.dirname(out)} is full. Nothing was kept; free space there and build again.`);
  throw new ImageError(`${command} failed (exit ${result.exitCode}${result.signal ? `, ${result.signal}` : ''}):\n${output}`.trim());
}

/** A stable RFC 4122-shaped UUID derived from the image identity. */
export function uuidFrom(identity: string): string {
  const hex = createHash('sha256').update(identity).digest('hex');
  const variant = ((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
