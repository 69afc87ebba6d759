import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ReleaseIndex } from '@bakehouse/schema';

/** A built image, as its build record (dist/NAME-VERSION-ARCH.json) describes it. */
export interface BuiltImage {
  file: string;
  version: string;
  arch: string;
  sha256: string;
}

/** Every image in an extension's dist/, from the build records beside the images. */
export async function builtImages(distDir: string): Promise<BuiltImage[]> {
  const records = (await readdir(distDir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  const images: BuiltImage[] = [];
  for (const record of records) {
    const data = JSON.parse(await readFile(path.join(distDir, record), 'utf8')) as { version?: string; arch?: string; image?: { file?: string; sha256?: string } };
    if (data.image?.file && data.image.sha256 && data.version && data.arch) images.push({ file: data.image.file, version: data.version, arch: data.arch, sha256: data.image.sha256 });
  }
  return images;
}

/** An extension's images in a published tree's index: file name → sha256. */
export function publishedImages(index: ReleaseIndex | undefined, name: string): Map<string, string> {
  return new Map((index?.extensions[name]?.images ?? []).map((image) => [path.posix.basename(image.path), image.sha256]));
}
