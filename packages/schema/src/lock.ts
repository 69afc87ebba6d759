import { z } from 'zod';
import { ManifestError } from './errors.js';
import { Arch, Sha256, Version, type ExtensionManifest } from './manifest.js';

export const LOCK_FILE = 'extension.lock.json';

const LockedInput = z
  .object({
    version: Version,
    sha256: z.partialRecord(Arch, Sha256),
    checksum: z
      .enum(['upstream', 'signed', 'computed'])
      .describe(
        '"upstream": the pin is the checksum upstream publishes. "signed": it comes from a checksum list whose signature bump verified against the manifest\'s key. "computed": upstream publishes none; bump downloaded the file and hashed it.',
      ),
  })
  .strict();

const LockedDeb = z
  .object({
    package: z.string().min(1),
    version: z.string().min(1),
    architecture: z.string().min(1),
    url: z.string().regex(/^https?:\/\//, 'the http(s) URL of the .deb'),
    sha256: Sha256,
    size: z.number().int().nonnegative(),
  })
  .strict();

const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD');

/** A line the extension's line source dropped after its end of life: publish still lists its images, marked end-of-life. */
const RetiredLine = z
  .object({
    line: z.string().regex(/^\d+\.\d+$/),
    endOfLife: IsoDate,
  })
  .strict();

const LockedImage = z
  .object({
    line: z.string().regex(/^\d+\.\d+$/).optional(),
    version: Version.describe("The upstream version this image packages; with `revision`, it makes the image version (see imageVersion)"),
    revision: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('The packaging revision: how often this upstream version was re-packaged (a unit fix). `bakehouse bump NAME --revision` adds one; an upstream move drops it'),
    endOfLife: IsoDate.optional().describe("The line's end of life as upstream's schedule gives it (manifests with `lineSource`): kept so the date is known once the schedule no longer lists the line"),
    inputs: z.record(z.string(), LockedInput),
    debian: z.partialRecord(Arch, z.array(LockedDeb).min(1)).optional().describe("The manifest's Debian closure, per arch: every .deb with its sha256 from the archive's signed index."),
  })
  .strict();

/** Separates a packaging revision from the upstream version: VERSION.rN. */
export const REVISION_MARKER = '.r';

/**
 * The image version, NAME-VERSION-ARCH.raw: the upstream version, then `.rN` for packaging revision N.
 * systemd's version comparison (strverscmp_improved, as sysupdate and `systemd-analyze
 * compare-versions` use it) orders 2.3.4 < 2.3.4.r1 < 2.3.4.r2 < 2.3.4.1 < 2.3.5: a "."-prefixed
 * letter segment sorts below any "."-prefixed number, so a revision never passes an upstream release.
 * The spelling avoids "-" (it separates NAME, VERSION and ARCH in sysupdate's MatchPattern) and "^"/"~"
 * (sysupdate accepts only letters, digits and ".,_+" in @v).
 */
export function imageVersion(image: { version: string; revision?: number }): string {
  return image.revision ? `${image.version}${REVISION_MARKER}${image.revision}` : image.version;
}

/**
 * extension.lock.json: the versions and sha256 pins an extension builds from, one entry per
 * image version (one per line for extensions with lines). Written by `bakehouse bump`.
 */
export const ExtensionLock = z
  .object({
    $comment: z.string().optional(),
    lockVersion: z.literal(1),
    images: z.array(LockedImage).min(1, 'at least one image version'),
    retiredLines: z.array(RetiredLine).optional().describe('Lines dropped after their end of life (manifests with `lineSource`), newest first'),
  })
  .strict();
export type ExtensionLock = z.output<typeof ExtensionLock>;
export type LockedImage = ExtensionLock['images'][number];
export type LockedInput = LockedImage['inputs'][string];
export type LockedDeb = z.output<typeof LockedDeb>;
export type RetiredLine = z.output<typeof RetiredLine>;

/**
 * The manifest with the lines its lock records, for a manifest whose `lineSource` decides them:
 * what builds, publishing and the catalog read as `lines`. Other manifests come back as they are.
 */
export function withLockedLines(manifest: ExtensionManifest, lock: ExtensionLock | undefined): ExtensionManifest {
  if (!manifest.lineSource || !lock) return manifest;
  const lines = lock.images.flatMap((image) => (image.line === undefined ? [] : [image.line]));
  return lines.length > 0 ? { ...manifest, lines } : manifest;
}

/**
 * Validates a lock on its own, without its fit with the manifest: what `bakehouse bump` reads,
 * since it rewrites a lock the manifest has outgrown (an input added, a line dropped).
 */
export function parseLockStructure(data: unknown, file: string): ExtensionLock {
  const result = ExtensionLock.safeParse(data);
  if (!result.success) throw ManifestError.fromZod(file, result.error);
  return result.data;
}

/**
 * Validates a lock and its fit with the manifest: one image per line, and every input pinned
 * for every arch. Errors name the lock file and field.
 */
export function parseLock(data: unknown, file: string, manifest: ExtensionManifest): ExtensionLock {
  const lock = parseLockStructure(data, file);
  const problems: { field: string; expected: string }[] = [];
  const lines = lock.images.map((image) => image.line);
  if (manifest.lineSource) {
    lock.images.forEach((image, i) => {
      if (image.line === undefined) problems.push({ field: `images[${i}].line`, expected: `a line: the manifest's lineSource decides them (run bakehouse bump ${manifest.name})` });
    });
  } else if (manifest.lines) {
    manifest.lines.forEach((line) => {
      if (!lines.includes(line)) problems.push({ field: 'images', expected: `an image for line ${line}, which the manifest lists (run bakehouse bump ${manifest.name})` });
    });
  } else if (lock.images.length !== 1 || lines[0] !== undefined)
    problems.push({ field: 'images', expected: 'exactly one image without "line", since the manifest declares no lines' });

  lock.images.forEach((image, i) => {
    if (image.line && !image.version.startsWith(`${image.line}.`))
      problems.push({ field: `images[${i}].version`, expected: `a ${image.line}.x version for line ${image.line}` });
    for (const input of manifest.inputs) {
      const locked = image.inputs[input.name];
      if (!locked) {
        problems.push({ field: `images[${i}].inputs.${input.name}`, expected: `a pin for input "${input.name}" (run bakehouse bump ${manifest.name})` });
        continue;
      }
      for (const arch of manifest.arch)
        if (!locked.sha256[arch]) problems.push({ field: `images[${i}].inputs.${input.name}.sha256.${arch}`, expected: `a sha256 for ${arch}, which "arch" lists` });
    }
    for (const arch of manifest.debian ? manifest.arch : [])
      if (!image.debian?.[arch]) problems.push({ field: `images[${i}].debian.${arch}`, expected: `the Debian closure for ${arch} (run bakehouse bump ${manifest.name})` });
    if (!manifest.debian && image.debian) problems.push({ field: `images[${i}].debian`, expected: 'no Debian closure: the manifest declares none' });
    for (const name of Object.keys(image.inputs))
      if (!manifest.inputs.some((input) => input.name === name))
        problems.push({ field: `images[${i}].inputs.${name}`, expected: `no pin for "${name}": the manifest has no such input` });
  });
  if (problems.length) throw new ManifestError(file, problems);
  return lock;
}
