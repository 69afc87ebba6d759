import { isDeepStrictEqual } from 'node:util';
import { imageVersion, type ExtensionLock, type LockedImage } from '@bakehouse/schema';
import semver from 'semver';
import { semverOf } from './version-order.js';

/** Something whose version or pin a bump changed. */
export interface BumpChange {
  /** The image's line, for extensions with lines. */
  line?: string;
  /** An input, or the extension itself for its image version. */
  name: string;
  /** Undefined: new in this lock. */
  from?: string;
  /** Undefined: gone from this lock (an input or a line the manifest dropped). */
  to?: string;
}

/**
 * What differs between two locks, image by image: the image version, then each input whose pin
 * changed. An input that only repeats the image's change (containerd's own input) is not listed twice.
 */
export function lockChanges(name: string, oldLock: ExtensionLock | undefined, newLock: ExtensionLock): BumpChange[] {
  const changes: BumpChange[] = [];
  const lines = [...new Set([...newLock.images, ...(oldLock?.images ?? [])].map((image) => image.line))];
  for (const line of lines) {
    const before = oldLock?.images.find((image) => image.line === line);
    const after = newLock.images.find((image) => image.line === line);
    const at = line === undefined ? {} : { line };
    const image = { ...at, name, from: before && imageVersion(before), to: after && imageVersion(after) };
    if (image.from !== image.to) changes.push(image);
    for (const input of inputNames(before, after)) {
      const [was, now] = [before?.inputs[input], after?.inputs[input]];
      if (isDeepStrictEqual(was, now)) continue;
      const change = { ...at, name: input, from: was?.version, to: now?.version };
      if (!(input === name && change.from === before?.version && change.to === after?.version)) changes.push(change);
    }
  }
  return changes;
}

/** "patch" when every change is a patch-level move of an existing version; "minor" for anything more. */
export function changeLevel(changes: readonly BumpChange[]): 'patch' | 'minor' {
  const isPatch = ({ from, to }: BumpChange) => {
    const [a, b] = [from && semverOf(from), to && semverOf(to)];
    return !!a && !!b && [null, 'patch'].includes(semver.diff(a, b));
  };
  return changes.every(isPatch) ? 'patch' : 'minor';
}

/** "containerd 2.3.4 → 2.3.5, runc 1.4.3 → 1.4.4", one line per image line for extensions with lines. */
export function describeChanges(changes: readonly BumpChange[]): string[] {
  const lines = [...new Set(changes.map((c) => c.line))];
  return lines.map((line) => {
    const text = changes.filter((c) => c.line === line).map(describeChange).join(', ');
    return line === undefined ? text : `${line}: ${text}`;
  });
}

function describeChange({ name, from, to }: BumpChange): string {
  if (from === undefined) return `${name} ${to} (new)`;
  if (to === undefined) return `${name} ${from} (removed)`;
  return from === to ? `${name} ${to} (re-pinned)` : `${name} ${from} → ${to}`;
}

function inputNames(...images: (LockedImage | undefined)[]): string[] {
  return [...new Set(images.flatMap((image) => Object.keys(image?.inputs ?? {})))];
}
