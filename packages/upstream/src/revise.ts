import { imageVersion, type ExtensionLock } from '@bakehouse/schema';
import type { BumpResult } from './bump.js';
import { BumpError } from './errors.js';

export interface ReviseOptions {
  /** What the re-packaging changes, for the changelog: "containerd.service restarts on failure". */
  reason: string;
  /** Only this line's image (extensions with lines); default every image. */
  line?: string;
}

/**
 * The next packaging revision of an extension's locked images: the same upstream version and pins,
 * an image version systemd orders above the current one (2.3.4 → 2.3.4.r1 → 2.3.4.r2). For changes
 * to the package itself (units, files, manifest) that must reach hosts before upstream moves.
 */
export function revise(name: string, lock: ExtensionLock, opts: ReviseOptions): BumpResult {
  if (!opts.reason.trim()) throw new BumpError(`${name}: a packaging revision needs a reason (--message "what changed"); it becomes the changelog entry`);
  if (opts.line !== undefined && !lock.images.some((image) => image.line === opts.line))
    throw new BumpError(`${name}: the lock has no image for line ${opts.line} (it has ${lock.images.map((image) => image.line ?? 'no lines').join(', ')})`);
  const revised = (line: string | undefined) => opts.line === undefined || line === opts.line;
  const images = lock.images.map((image) => (revised(image.line) ? { ...image, revision: (image.revision ?? 0) + 1 } : image));
  const changes = lock.images.flatMap((image, i) =>
    revised(image.line) ? [{ ...(image.line === undefined ? {} : { line: image.line }), name, from: imageVersion(image), to: imageVersion(images[i]!) }] : [],
  );
  return { name, lock: { ...lock, images }, changes, upToDate: false, reason: opts.reason.trim() };
}
