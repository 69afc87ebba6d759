import { createHash } from 'node:crypto';
import { execa } from 'execa';
import type { ImageFormat } from '@bakehouse/schema';
import { replaceAtomically } from './atomic.js';
import { requireTool } from './tools.js';

export interface ImageRequest {
  stageDir: string;
  output: string;
  format: ImageFormat;
  sourceDateEpoch: number;
  /** Seeds the erofs filesystem UUID so the same inputs give the same bytes. */
  identity: string;
}

export class ImageError extends Error {
  override readonly name = 'ImageError';
}

/**
 * Makes the image with the real mksquashfs / mkfs.erofs, atomically: a partial .raw is never visible.
 */
export async function makeImage(request: ImageRequest): Promise<{ tool: string; version: string }> {
  return replaceAtomically(request.output, (partial) => runImageTool(request, partial));
}

async function runImageTool(request: ImageRequest, out: string): Promise<{ tool: string; version: string }> {
  const epoch = String(request.sourceDateEpoch);
  if (request.format === 'squashfs') {
    const version = await requireTool('mksquashfs');
    await run('mksquashfs', [
      request.stageDir, out,
      '-noappend', '-all-root', '-no-xattrs', '-reproducible',
      '-mkfs-time', epoch, '-all-time', epoch,
      '-quiet', '-no-progress',
    ]);
    return { tool: 'mksquashfs', version };
  }
  const version = await requireTool('mkfs.erofs');
  await run('mkfs.erofs', [
    '-zlz4hc,12', '-C65536', '-Efragments,ztailpacking',
    `-U${uuidFrom(request.identity)}`, `-T${epoch}`, '--all-root', '--quiet',
    out, request.stageDir,
  ]);
  return { tool: 'mkfs.erofs', version };
}

/** Timestamps are passed as options; mksquashfs refuses SOURCE_DATE_EPOCH alongside them, so it is not inherited. */
async function run(command: string, args: string[]): Promise<void> {
  const { SOURCE_DATE_EPOCH: _, ...env } = process.env;
  const result = await execa(command, args, { env, extendEnv: false, reject: false, all: true });
  if (result.exitCode !== 0)
    throw new ImageError(`${command} failed (exit ${result.exitCode}${result.signal ? `, ${result.signal}` : ''}):\n${result.all ?? ''}`.trim());
}

/** A stable RFC 4122-shaped UUID derived from the image identity. */
export function uuidFrom(identity: string): string {
  const hex = createHash('sha256').update(identity).digest('hex');
  const variant = ((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
