import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseImageContents, writeFileAtomic, type BaseContents } from '@bakehouse/builder';
import { flatcarChannelBase, type FlatcarContext } from './flatcar-base.js';
import type { FlatcarRelease } from './flatcar-release.js';
import { getText } from './http.js';

/** The file Flatcar's release server publishes beside each release's images: every path of the OS image. */
export const CONTENTS_FILE = 'flatcar_production_image_contents.txt';

export interface FlatcarContents {
  contents: BaseContents;
  /** Where the list was read from: the cache file, or the URL it was fetched from. */
  source: string;
  /** The cache file that holds it. */
  file: string;
}

export function flatcarContentsUrl(release: FlatcarRelease, ctx: FlatcarContext): string {
  return `${flatcarChannelBase(ctx.flatcarBase, release.channel)}/${release.board}/${release.version}/${CONTENTS_FILE}`;
}

/** A release's list is fixed once published, so the cache is keyed by board and version alone. */
export function flatcarContentsCacheFile(release: Pick<FlatcarRelease, 'board' | 'version'>, cacheDir: string): string {
  return path.join(cacheDir, 'flatcar', release.board, release.version, CONTENTS_FILE);
}

/** The cached list of a release, or undefined when `bakehouse flatcar contents` has not fetched it yet. */
export async function cachedFlatcarContents(release: Pick<FlatcarRelease, 'board' | 'version'>, cacheDir: string): Promise<FlatcarContents | undefined> {
  const file = flatcarContentsCacheFile(release, cacheDir);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : { contents: parseImageContents(text, file), source: file, file };
}

/**
 * Fetches a release's contents list and caches it. It is parsed before it is cached, so an
 * error page or a truncated download never becomes the list lint trusts; the cache file is
 * written atomically.
 */
export async function fetchFlatcarContents(release: FlatcarRelease, ctx: FlatcarContext, cacheDir: string): Promise<FlatcarContents> {
  const url = flatcarContentsUrl(release, ctx);
  const { text } = await getText(url, ctx.http);
  const contents = parseImageContents(text, url);
  const file = flatcarContentsCacheFile(release, cacheDir);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, text);
  return { contents, source: url, file };
}
