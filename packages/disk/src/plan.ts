import path from 'node:path';
import { FLATCAR_BUILTIN_PATTERN } from '@bakehouse/schema';
import { certificateFileName, HOST_VERITY_DIR, renderIgnition } from '@bakehouse/publish';
import { BakeError } from './errors.js';
import type { ExtensionImage } from './images.js';

/** Where an image lives: ROOT (/opt/extensions, wiped with ROOT) or the OEM partition (/oem, survives flatcar-reset and a ROOT wipe). */
export type Placement = 'root' | 'oem';
export type Volume = 'ROOT' | 'OEM';

/** One thing bake writes. Paths are absolute within the volume's own file system (OEM's /x is /oem/x on a host). */
export type Write =
  | { volume: Volume; path: string; kind: 'file'; mode: number; from: string; why: string }
  | { volume: Volume; path: string; kind: 'content'; mode: number; content: Buffer; why: string }
  | { volume: Volume; path: string; kind: 'symlink'; target: string; why: string };

/** What the disk says about itself, from USR-A's os-release. */
export interface DiskFacts {
  osRelease: Record<string, string>;
  /** systemd's architecture name, from FLATCAR_BOARD. */
  arch: string;
}

export interface PlannedImage {
  image: ExtensionImage;
  /** As asked for; undefined means the default (ROOT, or OEM for oem-* images). */
  placement: Placement | undefined;
  /** Flatcar built-ins the extension replaces (its manifest's conflicts.builtins). */
  builtinConflicts: readonly string[];
}

export interface SysupdateSource {
  /** The published tree's base URL (publish --base-url). */
  baseUrl: string;
  /** The tree's binary keyring (bakehouse-pubring.gpg): the key sysupdate checks SHA256SUMS.gpg with. */
  pubring: Buffer;
  pubringSha256: string;
}

export interface PlanOptions {
  maskBuiltins: boolean;
  sysupdate?: SysupdateSource;
  /** A user Ignition config for /oem/config.ign. */
  ignition?: Buffer;
  /** sha256 of each image file, keyed by path (the renderer records it). */
  sha256: ReadonlyMap<string, string>;
}

/** Flatcar's board names → systemd architecture names. */
export const BOARD_ARCH: Record<string, string> = { 'amd64-usr': 'x86-64', 'arm64-usr': 'arm64' };

const FILE_MODE = 0o644;
/** Ignition configs hold credentials often enough to be readable by root only. */
const IGNITION_MODE = 0o600;

/**
 * Decides every write of a bake, or refuses: pure, so every refusal happens before a byte of
 * output exists. An image is compatible when systemd-sysext on this disk would merge it: ID,
 * a release pin (VERSION_ID) or SYSEXT_LEVEL, and ARCHITECTURE.
 */
export function planBake(disk: DiskFacts, images: readonly PlannedImage[], options: PlanOptions): Write[] {
  const writes: Write[] = [];
  const names = new Set<string>();
  const oemImages = images.filter((i) => i.image.name.startsWith('oem-'));
  if (oemImages.length > 1) throw new BakeError(`a disk holds one OEM image, but ${oemImages.map((i) => i.image.name).join(' and ')} were given`);
  const masks = new Set<string>();
  for (const planned of images) {
    const { image } = planned;
    checkCompatible(disk, image);
    if (names.has(image.name)) throw new BakeError(`${image.name} is given twice: bake one image per extension`);
    names.add(image.name);
    if (!image.name.startsWith('oem-') && FLATCAR_BUILTIN_PATTERN.test(image.name))
      throw new BakeError(`${image.file}: the name ${image.name} is Flatcar's own built-in image; an extension by that name would replace it unseen. Rename the extension`);
    if (planned.builtinConflicts.length && !options.maskBuiltins)
      throw new BakeError(
        `${image.name} replaces Flatcar's built-in ${planned.builtinConflicts.join(', ')} (its manifest's conflicts.builtins), which would be merged beside it: ` +
          `pass --mask-builtins to mask ${planned.builtinConflicts.map((b) => `/etc/extensions/${b}.raw`).join(', ')} with /dev/null`,
      );
    for (const builtin of planned.builtinConflicts) masks.add(builtin);
    if (image.name.startsWith('oem-')) writes.push(...oemWrites(disk, planned));
    else writes.push(...extensionWrites(planned, options));
  }
  for (const builtin of [...masks].sort())
    writes.push({ volume: 'ROOT', path: `/etc/extensions/${builtin}.raw`, kind: 'symlink', target: '/dev/null', why: `masks Flatcar's built-in ${builtin}` });
  if (options.ignition) writes.push({ volume: 'OEM', path: '/config.ign', kind: 'content', mode: IGNITION_MODE, content: options.ignition, why: 'user Ignition config' });
  return dedupe(writes);
}

function checkCompatible(disk: DiskFacts, image: ExtensionImage): void {
  const release = image.extensionRelease;
  const osId = disk.osRelease.ID ?? 'flatcar';
  if (release.ID !== undefined && release.ID !== '_any' && release.ID !== osId)
    throw new BakeError(`${image.file}: the image is for ID=${release.ID}, the disk is ${osId}: systemd-sysext would not merge it`);
  if (image.arch !== undefined && image.arch !== disk.arch)
    throw new BakeError(`${image.file}: the image is for ${image.arch}, the disk is ${disk.arch} (FLATCAR_BOARD=${disk.osRelease.FLATCAR_BOARD}): pass the ${disk.arch} image`);
  const diskVersion = disk.osRelease.VERSION_ID;
  if (release.VERSION_ID !== undefined && release.VERSION_ID !== diskVersion)
    throw new BakeError(
      `${image.file}: ${image.name} is pinned to Flatcar ${release.VERSION_ID} (VERSION_ID), but the disk is Flatcar ${diskVersion}: ` +
        `rebuild it for this release (bakehouse build ${image.name} --flatcar-version ${diskVersion}) or bake into a ${release.VERSION_ID} disk`,
    );
  const level = disk.osRelease.SYSEXT_LEVEL;
  if (release.VERSION_ID === undefined && release.SYSEXT_LEVEL !== undefined && level !== undefined && release.SYSEXT_LEVEL !== level)
    throw new BakeError(`${image.file}: the image needs SYSEXT_LEVEL=${release.SYSEXT_LEVEL}, the disk has ${level}`);
}

/** Flatcar's own OEM install (image_to_vm's install_oem_sysext): the initrd links /etc/extensions/oem-ID.raw to the file of the running VERSION. */
function oemWrites(disk: DiskFacts, { image, placement }: PlannedImage): Write[] {
  const id = image.name.slice('oem-'.length);
  if (placement === 'root') throw new BakeError(`${image.name} is an OEM image: Flatcar activates it from the OEM partition only (/oem/sysext), so it cannot be baked =root`);
  const oemRelease = image.oemRelease!;
  const releaseId = /^ID=["']?([^"'\n]*)/m.exec(oemRelease.toString())?.[1];
  if (releaseId !== id) throw new BakeError(`${image.file}: its oem-release says ID=${releaseId ?? '(none)'}, but the image is ${image.name}: Flatcar would look for oem-${releaseId}`);
  const version = disk.osRelease.VERSION ?? disk.osRelease.VERSION_ID;
  return [
    { volume: 'OEM', path: `/sysext/oem-${id}-${version}.raw`, kind: 'file', mode: FILE_MODE, from: image.file, why: `${image.name} for Flatcar ${version}` },
    { volume: 'OEM', path: `/sysext/active-oem-${id}`, kind: 'content', mode: FILE_MODE, content: Buffer.alloc(0), why: `marks ${image.name} active (update_engine fetches it with each OS update)` },
    { volume: 'OEM', path: '/oem-release', kind: 'content', mode: FILE_MODE, content: oemRelease, why: `OEM ID=${id}` },
  ];
}

function extensionWrites({ image, placement = 'root' }: PlannedImage, options: PlanOptions): Write[] {
  const fileName = path.basename(image.file);
  const installed = `/extensions/${image.name}/${fileName}`;
  const writes: Write[] = [];
  const hostPath = placement === 'root' ? `/opt${installed}` : `/oem${installed}`;
  writes.push({ volume: placement === 'root' ? 'ROOT' : 'OEM', path: placement === 'root' ? hostPath : installed, kind: 'file', mode: FILE_MODE, from: image.file, why: image.name });
  writes.push({ volume: 'ROOT', path: `/etc/extensions/${image.name}.raw`, kind: 'symlink', target: hostPath, why: `activates ${image.name}` });
  const certificate = image.verityCertificate;
  if (certificate)
    writes.push({ volume: 'ROOT', path: `${HOST_VERITY_DIR}/${certificateFileName(certificate.entry.certificateSha256)}`, kind: 'content', mode: FILE_MODE, content: certificate.pem, why: `trusts ${image.name}'s signature` });
  // systemd-sysupdate installs into /opt/extensions on ROOT: an image kept on OEM stays as baked.
  if (options.sysupdate && placement === 'root') writes.push(...sysupdateWrites(image, fileName, options.sysupdate, options.sha256.get(image.file) ?? ''));
  return writes;
}

/**
 * What the published tree's Ignition snippet provisions for sysupdate (@bakehouse/publish's
 * renderer, so a baked disk and a provisioned host are alike): the transfer, the key, unit drop-ins
 * and the timer. The image, its link and the certificate are written above from local files.
 */
function sysupdateWrites(image: ExtensionImage, fileName: string, sysupdate: SysupdateSource, sha256: string): Write[] {
  const pubringPath = 'bakehouse-pubring.gpg';
  const config = JSON.parse(
    renderIgnition({
      extension: image.name,
      baseUrl: sysupdate.baseUrl,
      image: { path: `${image.name}/${fileName}`, sha256 },
      pubring: { path: pubringPath, sha256: sysupdate.pubringSha256 },
      maskBuiltins: [],
    }),
  ) as IgnitionConfig;
  const writes: Write[] = [];
  for (const file of config.storage.files) {
    const source = file.contents.source;
    if (source.startsWith('data:,'))
      writes.push({ volume: 'ROOT', path: file.path, kind: 'content', mode: file.mode, content: Buffer.from(decodeURIComponent(source.slice('data:,'.length))), why: `sysupdate for ${image.name}` });
    else if (source === `${sysupdate.baseUrl}/${pubringPath}`)
      writes.push({ volume: 'ROOT', path: file.path, kind: 'content', mode: file.mode, content: sysupdate.pubring, why: 'the key sysupdate checks releases with' });
  }
  for (const unit of config.systemd.units) {
    // systemd-sysupdate.timer is WantedBy=timers.target; Ignition enables through a preset, a baked disk through the link.
    if (unit.enabled)
      writes.push({ volume: 'ROOT', path: `/etc/systemd/system/timers.target.wants/${unit.name}`, kind: 'symlink', target: `/usr/lib/systemd/system/${unit.name}`, why: 'enables the update timer' });
    for (const dropin of unit.dropins ?? [])
      writes.push({ volume: 'ROOT', path: `/etc/systemd/system/${unit.name}.d/${dropin.name}`, kind: 'content', mode: FILE_MODE, content: Buffer.from(dropin.contents), why: `sysupdate for ${image.name}` });
  }
  return writes;
}

interface IgnitionConfig {
  storage: { files: { path: string; mode: number; contents: { source: string } }[] };
  systemd: { units: { name: string; enabled?: boolean; dropins?: { name: string; contents: string }[] }[] };
}

/** Several images write the same key, certificate or drop-in: once is enough, unless they disagree. */
function dedupe(writes: Write[]): Write[] {
  const seen = new Map<string, Write>();
  for (const write of writes) {
    const key = `${write.volume}:${write.path}`;
    const before = seen.get(key);
    if (!before) {
      seen.set(key, write);
      continue;
    }
    if (!sameWrite(before, write)) throw new BakeError(`${write.volume}:${write.path} would be written twice with different contents (${before.why}; ${write.why})`);
  }
  return [...seen.values()];
}

function sameWrite(a: Write, b: Write): boolean {
  if (a.kind === 'content' && b.kind === 'content') return a.mode === b.mode && a.content.equals(b.content);
  if (a.kind === 'symlink' && b.kind === 'symlink') return a.target === b.target;
  if (a.kind === 'file' && b.kind === 'file') return a.from === b.from && a.mode === b.mode;
  return false;
}
