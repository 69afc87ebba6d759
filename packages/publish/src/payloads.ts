import type { KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { inspectImage } from '@bakehouse/builder';
import {
  buildPayload,
  checkPayloadName,
  describeFile,
  nebraskaPackage,
  omahaResponse,
  OS_PAYLOAD_NAME,
  PAYLOAD_NAME_PATTERN,
  PAYLOAD_SUFFIX,
  payloadFileName,
  type DescribedFile,
  type ReleaseFiles,
} from '@bakehouse/payload';
import type { ExtensionManifest, ReleaseIndexImage } from '@bakehouse/schema';
import { PublishError } from './errors.js';
import { writeIfChanged } from './files.js';
import { compareVersions } from './version.js';

/** Flatcar's release file server layout: BASE/BOARD/VERSION/NAME, under flatcar/ in the tree. */
export const PAYLOAD_ROOT = 'flatcar';
export const NEBRASKA_PACKAGE_FILE = 'nebraska-package.json';
export const OMAHA_RESPONSE_FILE = 'omaha-response.xml';
const BOARD_OF_ARCH: Record<string, string> = { 'x86-64': 'amd64-usr', arm64: 'arm64-usr' };

export interface PayloadImage {
  manifest: ExtensionManifest;
  entry: ReleaseIndexImage;
  file: string;
}

export interface PublishPayloadsOptions {
  outDir: string;
  images: readonly PayloadImage[];
  /** RSA-2048 keys; the last is the real key (see @bakehouse/payload). */
  keys: readonly KeyObject[];
  /** The URL outDir is served from. */
  baseUrl: string;
  bzip2?: boolean;
}

export interface PublishedRelease {
  board: string;
  version: string;
  /** Tree-relative directory: flatcar/BOARD/VERSION. */
  dir: string;
  payloads: string[];
  /** Whether the OS payload was there, so the Nebraska package and Omaha response could be written. */
  osPayload: boolean;
}

export interface PublishPayloadsResult {
  written: string[];
  releases: PublishedRelease[];
}

/** Whether publish --payloads signs this extension's images: release-pinned, with a name Flatcar requests. */
export function isPayloadExtension(manifest: ExtensionManifest): boolean {
  return manifest.release.compat === 'release' && payloadFileName(manifest.name) !== undefined;
}

/**
 * Signs every release-pinned image as flatcar/BOARD/VERSION/NAME.gz (newest image per name,
 * board and Flatcar version), then describes each touched BOARD/VERSION directory for
 * Nebraska and as an Omaha response: the OS payload flatcar_production_update.gz (the
 * operator's own, signed with the same key, put there beforehand) first, then every
 * oem-*.gz and flatcar-*.gz in the directory. Same images and key give the same bytes, and
 * unchanged files are not rewritten.
 */
export async function publishPayloads(options: PublishPayloadsOptions): Promise<PublishPayloadsResult> {
  const outDir = path.resolve(options.outDir);
  const chosen = new Map<string, PayloadImage & { board: string; version: string; name: string }>();
  for (const image of options.images) {
    const name = payloadFileName(image.manifest.name);
    if (!name || image.manifest.release.compat !== 'release') continue;
    if (image.entry.format === 'ddi') throw new PublishError(`${image.file}: a signed DDI; Flatcar's post-install step installs plain squashfs/erofs images: build ${image.manifest.name} without --sign-key for payloads`);
    const board = BOARD_OF_ARCH[image.entry.arch];
    if (!board) throw new PublishError(`${image.file}: architecture ${image.entry.arch} has no Flatcar board`);
    const version = checkPayloadName(name, await inspectImage(image.file));
    const key = `${board}/${version}/${name}`;
    const previous = chosen.get(key);
    if (!previous || compareVersions(image.entry.version, previous.entry.version) > 0) chosen.set(key, { ...image, board, version, name });
  }
  if (chosen.size === 0) throw new PublishError('no release-pinned image named flatcar-NAME or oem-ID among the built images: build one (e.g. bakehouse build flatcar-podman) first');

  const written: string[] = [];
  const write = async (relative: string, content: string | Buffer) => {
    if (await writeIfChanged(path.join(outDir, relative), content)) written.push(relative);
  };
  const dirs = new Map<string, { board: string; version: string }>();
  for (const image of [...chosen.values()].sort((a, b) => a.file.localeCompare(b.file))) {
    const dir = `${PAYLOAD_ROOT}/${image.board}/${image.version}`;
    dirs.set(dir, { board: image.board, version: image.version });
    await write(`${dir}/${image.name}`, await buildPayload(await readFile(image.file), { keys: options.keys, bzip2: options.bzip2 }));
  }

  const releases: PublishedRelease[] = [];
  for (const [dir, { board, version }] of [...dirs].sort(([a], [b]) => a.localeCompare(b))) {
    const names = (await readdir(path.join(outDir, dir))).filter((f) => f.endsWith(PAYLOAD_SUFFIX) && PAYLOAD_NAME_PATTERN.test(f.slice(0, -PAYLOAD_SUFFIX.length))).sort();
    const extras = await Promise.all(names.map((n) => describeOnDisk(outDir, dir, n)));
    const os = await describeOnDisk(outDir, dir, OS_PAYLOAD_NAME).catch(() => undefined);
    if (os) {
      const release: ReleaseFiles = { version, board, url: `${options.baseUrl.replace(/\/+$/, '')}/${dir}/`, os, extras };
      await write(`${dir}/${NEBRASKA_PACKAGE_FILE}`, `${JSON.stringify(nebraskaPackage(release), null, 2)}\n`);
      await write(`${dir}/${OMAHA_RESPONSE_FILE}`, omahaResponse(release));
    }
    releases.push({ board, version, dir, payloads: names, osPayload: os !== undefined });
  }
  return { written, releases };
}

async function describeOnDisk(outDir: string, dir: string, name: string): Promise<DescribedFile> {
  return describeFile(name, await readFile(path.join(outDir, dir, name)));
}
