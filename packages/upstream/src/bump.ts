import { isDeepStrictEqual } from 'node:util';
import type { UnpinnedFetchOptions } from '@bakehouse/builder';
import { LOCK_FILE, parseLock, type ExtensionLock, type ExtensionManifest } from '@bakehouse/schema';
import { versionLister } from './candidates.js';
import type { UpstreamContext } from './context.js';
import { imageTargets } from './image-targets.js';
import { lockChanges, type BumpChange } from './lock-changes.js';
import { lockImage } from './lock-image.js';
import { lockDebianClosure } from './debian-closure.js';

export interface BumpOptions {
  ctx: UpstreamContext;
  /** The download cache that pinned files are verified into; a bump takes no mirror and is never offline. */
  fetch: UnpinnedFetchOptions;
  /** The image version to move to instead of the newest; required without an upstream. */
  to?: string;
  /** The lock file as error messages should name it. */
  lockFile?: string;
}

export interface BumpResult {
  name: string;
  lock: ExtensionLock;
  changes: BumpChange[];
  /** The new lock equals the old one: there is nothing to write. */
  upToDate: boolean;
  /** Why, when the change is the project's own (a packaging revision): the changelog entry. */
  reason?: string;
}

/**
 * Works out an extension's next lock: image versions from its upstream (or `to`), input versions,
 * and a pin for every input and arch. Writes nothing (see writeBump), so a failure anywhere
 * leaves the workspace as it was.
 */
export async function bump(extension: { manifest: ExtensionManifest; lock?: ExtensionLock }, opts: BumpOptions): Promise<BumpResult> {
  const { manifest, lock: oldLock } = extension;
  const list = versionLister(opts.ctx);
  // A Debian closure names the image itself: its version is the suite's, not a choice.
  const closure = manifest.debian ? await lockDebianClosure(manifest) : undefined;
  const targets = closure ? [{ version: closure.version }] : await imageTargets(manifest, oldLock, opts.to, list);
  const images = [];
  for (const target of targets) {
    const oldImage = oldLock?.images.find((image) => image.line === target.line);
    const image = await lockImage(manifest, target, oldImage, { ctx: opts.ctx, fetch: opts.fetch, list });
    // A packaging revision counts re-packagings of one upstream version: it survives re-pins, not an upstream move.
    const revision = oldImage?.revision !== undefined && oldImage.version === image.version ? { revision: oldImage.revision } : {};
    images.push({ ...image, ...revision, ...(closure ? { debian: closure.debian } : {}) });
  }
  const lock: ExtensionLock = { ...lockComment(manifest.name, oldLock), lockVersion: 1, images };
  // Upstream data ends up in the lock: check it holds what a build will accept before anything is written.
  parseLock(lock, opts.lockFile ?? LOCK_FILE, manifest);
  return { name: manifest.name, lock, changes: lockChanges(manifest.name, oldLock, lock), upToDate: isDeepStrictEqual(oldLock, lock) };
}

/** A new lock says where it comes from; an existing one keeps its comment, which a bump has no reason to change. */
function lockComment(name: string, oldLock: ExtensionLock | undefined): { $comment?: string } {
  if (!oldLock) return { $comment: `Written by \`bakehouse bump ${name}\`. "checksum" says whether a pin is upstream's published checksum or one bump computed.` };
  return oldLock.$comment === undefined ? {} : { $comment: oldLock.$comment };
}
