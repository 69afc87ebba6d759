import { imageVersion, type ExtensionLock } from '@bakehouse/schema';
import type { LineChange } from './bump.js';
import { changeLevel, describeChanges, type BumpChange } from './lock-changes.js';

export interface Changeset {
  /** bump-NAME-VERSION.md, with the versions of every image that changed. */
  fileName: string;
  text: string;
}

/** The changeset a bump adds for `changeset version`: a patch release for patch-level upstream moves, minor otherwise. */
export function bumpChangeset(name: string, lock: ExtensionLock, changes: readonly BumpChange[], reason?: string): Changeset {
  const changedLines = new Set(changes.map((c) => c.line));
  const versions = lock.images.filter((image) => changedLines.has(image.line)).map(imageVersion);
  const summary = describeChanges(changes);
  const body = reason !== undefined ? `${reason}\n\nPackaging revision: ${summary.join('; ')}.` : summary.length === 1 ? `Bump ${summary[0]}.` : `Bump:\n\n${summary.map((line) => `- ${line}`).join('\n')}`;
  return {
    fileName: `bump-${[name, ...versions].join('-')}.md`,
    text: `---\n"${name}": ${changeLevel(changes)}\n---\n\n${body}\n`,
  };
}

/**
 * A line added or retired by the extension's lineSource: a minor release of the extension, with
 * its own entry, since hosts on a retired line must act and a new line is a new update channel.
 */
export function lineChangeset(name: string, change: LineChange): Changeset {
  const body =
    change.kind === 'added'
      ? `New line ${change.line} (${name} ${change.version}), following Kubernetes' release schedule${change.endOfLife ? `; supported until ${change.endOfLife}` : ''}.`
      : `Line ${change.line} reached the end of its upstream support${change.endOfLife ? ` on ${change.endOfLife}` : ''} and is no longer built. Its last image (${name} ${change.version}) stays listed in the catalog, marked end-of-life: move hosts on it to a supported line.`;
  return {
    fileName: `line-${name}-${change.line}${change.kind === 'retired' ? '-end-of-life' : ''}.md`,
    text: `---\n"${name}": minor\n---\n\n${body}\n`,
  };
}
