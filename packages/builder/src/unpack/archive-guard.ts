import type { ArchiveEntry, EntryType } from './archive-entry.js';
import { normaliseArchivePath, parentComponents, symlinkEscape } from './archive-paths.js';
import { type ArchiveContext, UnsafeArchiveError } from './errors.js';

/** An entry that passed the guard, with its normalised path. */
export type AdmittedEntry =
  | { type: 'directory'; path: string }
  | { type: 'file'; path: string }
  | { type: 'symlink'; path: string; target: string }
  /** `contentOf` is the regular file whose content the link shares, with hard-link chains followed. */
  | { type: 'hardlink'; path: string; contentOf: string };

/**
 * Validates every entry of one archive, in order, including entries no rule maps: one hostile
 * entry is reason enough to distrust the whole download. Keeps just enough state (one entry
 * per path) to catch duplicates, paths below symlinks, and hard links to nowhere.
 */
export class ArchiveGuard {
  private readonly seen = new Set<string>();
  /** Paths that are, or must be, directories because something lies below them. */
  private readonly directories = new Set<string>();
  private readonly nonDirectories = new Map<string, EntryType>();
  /** For every regular file and hard link seen so far: the regular file holding its content. */
  private readonly contentOf = new Map<string, string>();

  constructor(private readonly context: ArchiveContext) {}

  /** Returns the admitted entry, or undefined for the archive root ("./"), which carries nothing. */
  admit(entry: ArchiveEntry): AdmittedEntry | undefined {
    const checked = normaliseArchivePath(entry.name);
    if (!checked.ok) throw this.refuse(entry, checked.reason);
    const { path } = checked;
    const tooLong = overlongName(path);
    if (tooLong) throw this.refuse(entry, tooLong);

    if (path === '') {
      if (entry.type === 'directory') return undefined;
      throw this.refuse(entry, `is a ${entry.type} in place of the archive root`);
    }
    this.checkPlacement(entry, path);

    switch (entry.type) {
      case 'directory':
        this.directories.add(path);
        return { type: 'directory', path };
      case 'file':
        this.contentOf.set(path, path);
        return { type: 'file', path };
      case 'symlink': {
        const target = entry.linkName ?? '';
        if (Buffer.byteLength(target) > MAX_PATH_BYTES) throw this.refuse(entry, `is a symlink whose target is longer than ${MAX_PATH_BYTES} bytes`);
        const escape = symlinkEscape(parentComponents(path), target, 'the archive');
        if (escape) throw this.refuse(entry, escape);
        return { type: 'symlink', path, target };
      }
      case 'hardlink': {
        const contentOf = this.hardLinkContent(entry);
        this.contentOf.set(path, contentOf);
        return { type: 'hardlink', path, contentOf };
      }
      default:
        throw this.refuse(entry, `is a ${entry.type}; an image may only hold files, directories and symlinks`);
    }
  }

  /** Refuses duplicates and entries that would have to be written through a symlink or file. */
  private checkPlacement(entry: ArchiveEntry, path: string): void {
    if (this.seen.has(path)) {
      const alias = path === entry.name ? '' : ` (as "${path}")`;
      throw this.refuse(entry, `appears more than once${alias}; extractors disagree on which copy wins, so the archive is ambiguous`);
    }
    this.seen.add(path);

    let ancestor = '';
    for (const component of parentComponents(path)) {
      ancestor = ancestor ? `${ancestor}/${component}` : component;
      const type = this.nonDirectories.get(ancestor);
      if (type) throw this.refuse(entry, `lies below "${ancestor}", which is a ${type}, not a directory`);
      this.directories.add(ancestor);
    }

    if (entry.type !== 'directory') {
      if (this.directories.has(path)) throw this.refuse(entry, `is a ${entry.type}, but other entries use "${path}" as a directory`);
      this.nonDirectories.set(path, entry.type);
    }
  }

  private hardLinkContent(entry: ArchiveEntry): string {
    const target = entry.linkName ?? '';
    const checked = normaliseArchivePath(target);
    if (!checked.ok) throw this.refuse(entry, `is a hard link to "${target}", which ${checked.reason}`);
    const content = this.contentOf.get(checked.path);
    if (content === undefined) throw this.refuse(entry, `is a hard link to "${target}", which is not an earlier file in the archive`);
    return content;
  }

  private refuse(entry: ArchiveEntry, reason: string): UnsafeArchiveError {
    return new UnsafeArchiveError(this.context, entry.name, reason);
  }
}

/** Linux's limits (NAME_MAX, PATH_MAX - 1): longer names cannot be written, and no real release has them. */
const MAX_NAME_BYTES = 255;
const MAX_PATH_BYTES = 4095;

function overlongName(path: string): string | undefined {
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `has a name longer than ${MAX_PATH_BYTES} bytes`;
  const component = path.split('/').find((part) => Buffer.byteLength(part) > MAX_NAME_BYTES);
  if (component !== undefined) return `has a name component of ${Buffer.byteLength(component)} bytes; file systems allow ${MAX_NAME_BYTES}`;
  return undefined;
}
