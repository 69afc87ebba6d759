import { isDeepStrictEqual } from 'node:util';
import type { UnpinnedFetchOptions } from '@bakehouse/builder';
import { imageVersion, LOCK_FILE, parseLock, type ExtensionLock, type ExtensionManifest } from '@bakehouse/schema';
import { versionLister } from './candidates.js';
import type { UpstreamContext } from './context.js';
import { imageTargets } from './image-targets.js';
import { lockChanges, type BumpChange } from './lock-changes.js';
import { lockImage } from './lock-image.js';
import { lockDebianClosure } from './debian-closure.js';
import { planLines } from './line-schedule.js';

export interface BumpOptions {
  ctx: UpstreamContext;
  /** The download cache that pinned files are verified into; a bump takes no mirror and is never offline. */
  fetch: UnpinnedFetchOptions;
  /** The image version to move to instead of the newest; required without an upstream. */
  to?: string;
  /** The lock file as error messages should name it. */
  lockFile?: string;
  /** Today, for a manifest whose lineSource drops lines after their end of life; default the system clock. */
  now?: Date;
}

export interface BumpResult {
  name: string;
  lock: ExtensionLock;
  changes: BumpChange[];
  /** The new lock equals the old one: there is nothing to write. */
  upToDate: boolean;
  /** Why, when the change is the project's own (a packaging revision): the changelog entry. */
  reason?: string;
  /** Lines a lineSource added to or retired from an existing lock: each gets a changeset of its own. */
  lineChanges?: LineChange[];
}

export interface LineChange {
  kind: 'added' | 'retired';
  line: string;
  /** The image version the line starts with, or the last one it had. */
  version: string;
  /** YYYY-MM-DD: when upstream's support ends (added) or ended (retired). */
  endOfLife?: string;
}

/**
 * Works out an extension's next lock: image versions from its upstream (or `to`), input versions,
 * and a pin for every input and arch. Writes nothing (see writeBump), so a failure anywhere
 * leaves the workspace as it was.
 */
export async function bump(extension: { manifest: ExtensionManifest; lock?: ExtensionLock; dir?: string }, opts: BumpOptions): Promise<BumpResult> {
  const { manifest, lock: oldLock } = extension;
  const list = versionLister(opts.ctx);
  // A Debian closure names the image itself: its version is the suite's, not a choice.
  const closure = manifest.debian ? await lockDebianClosure(manifest) : undefined;
  const plan = manifest.lineSource ? await planLines(manifest, oldLock, opts.ctx, opts.now ?? new Date()) : undefined;
  const targets = closure ? [{ version: closure.version }] : await imageTargets(manifest, plan?.lines ?? manifest.lines, oldLock, opts.to, list);
  const images = [];
  for (const target of targets) {
    const oldImage = oldLock?.images.find((image) => image.line === target.line);
    const image = await lockImage(manifest, target, oldImage, { ctx: opts.ctx, fetch: opts.fetch, list, extensionDir: extension.dir });
    // A packaging revision counts re-packagings of one upstream version: it survives re-pins, not an upstream move.
    const revision = oldImage?.revision !== undefined && oldImage.version === image.version ? { revision: oldImage.revision } : {};
    const endOfLife = target.line === undefined ? undefined : plan?.endOfLife.get(target.line);
    const { inputs, ...head } = image;
    images.push({ ...head, ...(endOfLife ? { endOfLife } : {}), inputs, ...revision, ...(closure ? { debian: closure.debian } : {}) });
  }
  const retired = plan && plan.retired.length > 0 ? { retiredLines: plan.retired } : {};
  const lock: ExtensionLock = { ...lockComment(manifest.name, oldLock), lockVersion: 1, images, ...retired };
  // Upstream data ends up in the lock: check it holds what a build will accept before anything is written.
  parseLock(lock, opts.lockFile ?? LOCK_FILE, manifest);
  const lineChanges = plan && oldLock ? changedLines(oldLock, lock) : [];
  return {
    name: manifest.name,
    lock,
    changes: lockChanges(manifest.name, oldLock, lock),
    upToDate: isDeepStrictEqual(oldLock, lock),
    ...(lineChanges.length > 0 ? { lineChanges } : {}),
  };
}

function changedLines(oldLock: ExtensionLock, lock: ExtensionLock): LineChange[] {
  const lines = (l: ExtensionLock) => new Set(l.images.map((image) => image.line));
  const [before, after] = [lines(oldLock), lines(lock)];
  const added = lock.images.filter((image) => image.line !== undefined && !before.has(image.line));
  const retired = oldLock.images.filter((image) => image.line !== undefined && !after.has(image.line));
  return [
    ...added.map((image) => ({ kind: 'added' as const, line: image.line!, version: imageVersion(image), ...(image.endOfLife ? { endOfLife: image.endOfLife } : {}) })),
    ...retired.map((image) => ({ kind: 'retired' as const, line: image.line!, version: imageVersion(image), endOfLife: lock.retiredLines?.find((r) => r.line === image.line)?.endOfLife })),
  ];
}

/** A new lock says where it comes from; an existing one keeps its comment, which a bump has no reason to change. */
function lockComment(name: string, oldLock: ExtensionLock | undefined): { $comment?: string } {
  if (!oldLock) return { $comment: `Written by \`bakehouse bump ${name}\`. "checksum" says whether a pin is upstream's published checksum or one bump computed.` };
  return oldLock.$comment === undefined ? {} : { $comment: oldLock.$comment };
}
