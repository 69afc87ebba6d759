import { imageVersion, type ExtensionLock } from '@bakehouse/schema';
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
