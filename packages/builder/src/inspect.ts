import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { ImageFormat } from '@bakehouse/schema';
import { SOURCE_OVERRIDES_FIELD } from './plan.js';
import { parseExtensionRelease } from './render.js';
import { requireTool } from './tools.js';
import { listTree, serializeTree, type SerializedEntry } from './tree.js';

export class InspectError extends Error {
  override readonly name = 'InspectError';
}

export interface ImageInfo {
  format: ImageFormat;
  releaseFile: string;
  extensionRelease: Record<string, string>;
  /** Override builds: the inputs and packages built from source overrides, not the lock's pins (extension-release BAKEHOUSE_SOURCE_OVERRIDES). */
  sourceOverrides?: string[];
  files: SerializedEntry[];
}

const SQUASHFS_MAGIC = Buffer.from('hsqs');
const EROFS_MAGIC = Buffer.from([0xe2, 0xe1, 0xf5, 0xe0]);
const EROFS_SUPERBLOCK_OFFSET = 1024;

/** Reads an image with the filesystem's own tools (not our build record), so it shows what a host would see. */
export async function inspectImage(image: string): Promise<ImageInfo> {
  const format = await detectFormat(image);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-inspect-'));
  const out = path.join(dir, 'root');
  try {
    if (format === 'squashfs') {
      await requireTool('unsquashfs');
      await execa('unsquashfs', ['-no-progress', '-quiet', '-d', out, image]);
    } else {
      await requireTool('fsck.erofs');
      await execa('fsck.erofs', [`--extract=${out}`, image]);
    }
    const releaseDir = path.join(out, 'usr/lib/extension-release.d');
    const releases = (await readdir(releaseDir).catch(() => [])).filter((f) => f.startsWith('extension-release.'));
    if (releases.length !== 1) throw new InspectError(`${image}: expected one usr/lib/extension-release.d/extension-release.NAME, found ${releases.length}`);
    const releaseFile = `/usr/lib/extension-release.d/${releases[0]}`;
    const files = serializeTree(await listTree(out));
    const extensionRelease = parseExtensionRelease(await readFile(path.join(out, releaseFile), 'utf8'));
    const overrides = extensionRelease[SOURCE_OVERRIDES_FIELD]?.split(/\s+/).filter(Boolean);
    return { format, releaseFile, extensionRelease, ...(overrides?.length ? { sourceOverrides: overrides } : {}), files };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function detectFormat(image: string): Promise<ImageFormat> {
  const handle = await open(image, 'r').catch((error: Error) => {
    throw new InspectError(`${image}: ${error.message}`);
  });
  try {
    const head = Buffer.alloc(EROFS_SUPERBLOCK_OFFSET + 4);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead >= 4 && head.subarray(0, 4).equals(SQUASHFS_MAGIC)) return 'squashfs';
    if (bytesRead === head.length && head.subarray(EROFS_SUPERBLOCK_OFFSET).equals(EROFS_MAGIC)) return 'erofs';
    throw new InspectError(`${image}: neither a squashfs nor an erofs image`);
  } finally {
    await handle.close();
  }
}
