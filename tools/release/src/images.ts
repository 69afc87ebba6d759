import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { TEST_RECORD_SUFFIX, type ReleaseIndex } from '@bakehouse/schema';

/** The stage cannot be made or read: the message says which file and what to do. */
export class StageError extends Error {
  override readonly name = 'StageError';
}

/** A built image, as its build record (dist/NAME-VERSION-ARCH.json) describes it. */
export interface BuiltImage {
  file: string;
  version: string;
  arch: string;
  sha256: string;
  bytes: number;
}

/** Every image in an extension's dist/ (or stage directory), from the build records beside the images. */
export async function builtImages(distDir: string): Promise<BuiltImage[]> {
  const records = (await readdir(distDir).catch(() => [] as string[])).filter((f) => f.endsWith('.json') && !f.endsWith(TEST_RECORD_SUFFIX)).sort();
  const images: BuiltImage[] = [];
  for (const record of records) {
    const data = JSON.parse(await readFile(path.join(distDir, record), 'utf8')) as { version?: string; arch?: string; image?: { file?: string; sha256?: string; bytes?: number } };
    if (data.image?.file && data.image.sha256 && data.version && data.arch && data.image.bytes !== undefined)
      images.push({ file: data.image.file, version: data.version, arch: data.arch, sha256: data.image.sha256, bytes: data.image.bytes });
  }
  return images;
}

/** An extension's images in a published tree's index: file name → sha256. */
export function publishedImages(index: ReleaseIndex | undefined, name: string): Map<string, string> {
  return new Map((index?.extensions[name]?.images ?? []).map((image) => [path.posix.basename(image.path), image.sha256]));
}

/**
 * Copies the chosen images and their build records out of dist/ into `stageDir` (emptied
 * first), checking each copy's sha256 against its record. From here on the boot test boots
 * these bytes and publish publishes these bytes: a later build into dist/ cannot swap them.
 */
export async function stageImages(distDir: string, images: readonly BuiltImage[], stageDir: string): Promise<BuiltImage[]> {
  await rm(stageDir, { recursive: true, force: true });
  await mkdir(stageDir, { recursive: true });
  for (const image of images) {
    const target = path.join(stageDir, image.file);
    await copyFile(path.join(distDir, image.file), target);
    const sha256 = await sha256File(target);
    if (sha256 !== image.sha256) throw new StageError(`${path.join(distDir, image.file)} changed while it was staged (sha256 ${sha256}, its record says ${image.sha256}): build it again`);
    await copyFile(path.join(distDir, image.file.replace(/\.raw$/, '.json')), path.join(stageDir, image.file.replace(/\.raw$/, '.json')));
    // The SBOM travels with its record, which names its sha256 (publish checks it); builds before SBOMs have none.
    const sbom = image.file.replace(/\.raw$/, '.spdx.json');
    await copyFile(path.join(distDir, sbom), path.join(stageDir, sbom)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  return [...images];
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}
