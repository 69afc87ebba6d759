import path from 'node:path';
import type { BaseOverride } from '@bakehouse/schema';

/** One path of Flatcar's own /usr (or /opt), as the release's image contents list records it. */
export interface BaseEntry {
  type: 'dir' | 'file' | 'symlink' | 'other';
  target?: string;
}

/** Image path (/usr/…) → entry. */
export type BaseContents = ReadonlyMap<string, BaseEntry>;

export class BaseContentsError extends Error {
  override readonly name = 'BaseContentsError';
}

/**
 * A line of flatcar_production_image_contents.txt, which Flatcar's build writes with
 * `find -printf '%M %2n %-7u %-7g %7s %TY-%Tm-%Td %TH:%TM ./%P -> %l'` (the arrow dropped for
 * non-links): mode, links, user, group, size, date, time, then `./PATH` and `-> TARGET`.
 */
const CONTENTS_LINE = /^([-dlcbps])[-rwxsStT]{9}\S*\s+\d+\s+\S+\s+\S+\s+\d+\s+\d{4}-\d\d-\d\d\s+\d\d:\d\d\s+\.(\/.*?)(?: -> (.*))?$/;

const TYPE_OF = { d: 'dir', '-': 'file', l: 'symlink' } as const;

/**
 * Parses a release's contents list, keeping what systemd-sysext can overlay (/usr and /opt) and
 * the top-level symlinks into them (/lib64 → usr/lib64). A line that is not in the format names
 * `source` and its line number: a truncated download or an HTML error page must not pass as a list.
 */
export function parseImageContents(text: string, source: string): BaseContents {
  const entries = new Map<string, BaseEntry>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const match = CONTENTS_LINE.exec(line);
    if (!match) throw new BaseContentsError(`${source}:${i + 1}: not a line of Flatcar's image contents list ("${line.slice(0, 80)}"); fetch the list again with bakehouse flatcar contents`);
    const [, kind, rawPath, target] = match;
    const imagePath = rawPath === '/' ? '/' : rawPath!.replace(/\/+$/, '');
    const type = TYPE_OF[kind as keyof typeof TYPE_OF] ?? 'other';
    entries.set(imagePath, target === undefined || type !== 'symlink' ? { type } : { type, target });
  });
  if (![...entries.keys()].some((p) => p.startsWith('/usr/'))) throw new BaseContentsError(`${source}: lists nothing under /usr; this is not a Flatcar image contents list`);
  return entries;
}

/** One image path in the shape lint needs; build records and footprints both provide it. */
export interface ImagePath {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
}

export interface BaseProblem {
  rule: 'base-symlink-replaced' | 'base-type-changed' | 'base-file-shadowed' | 'base-library-shadowed';
  path: string;
  message: string;
}

/**
 * Directories the host's dynamic loader searches (glibc's trusted dirs plus Flatcar's
 * ld.so.conf). A library dropped there by an overlay is found before, or instead of, the host's
 * own and can break every program on the host.
 */
export const LOADER_DIRECTORIES = ['/usr/lib64', '/usr/lib', '/usr/local/lib64', '/usr/local/lib'];
const LIBRARY_NAME = /\.so(\.\d+)*$/;

/**
 * What an image would do to Flatcar's /usr when merged over it. systemd-sysext overlays the
 * image on top, so the image wins everywhere it has a path: a directory over a base symlink hides
 * the link (the bakery's /usr/sbin incidents), a file over a base directory hides the directory,
 * a file over a base file replaces it, and a library in a loader directory can be loaded by
 * host programs. Paths the manifest lists in `overridesBase` (exact, or a directory ending in
 * "/") are declared on purpose and pass.
 */
export function lintAgainstBase(image: readonly ImagePath[], base: BaseContents, overrides: readonly BaseOverride[] = [], flatcarVersion = 'the target release'): BaseProblem[] {
  const declared = (p: string) => overrides.some((o) => (o.path.endsWith('/') ? p.startsWith(o.path) : p === o.path));
  const entries = withParents(image);
  const problems: BaseProblem[] = [];
  const hint = (p: string) => `; if this is on purpose, declare it in the manifest: overridesBase: [{ path: '${p}', reason: '…' }]`;
  for (const entry of entries) {
    if (declared(entry.path)) continue;
    const own = base.get(entry.path);
    if (own?.type === 'symlink' && entry.type !== 'symlink')
      problems.push({ rule: 'base-symlink-replaced', path: entry.path, message: `${entry.path}: Flatcar ${flatcarVersion} has a symlink here (→ ${own.target ?? '?'}); the image's ${entry.type === 'dir' ? 'directory' : entry.type} would hide it and everything it points to${hint(entry.path)}` });
    else if (own !== undefined && own.type !== entry.type && (own.type === 'dir' || entry.type === 'dir'))
      problems.push({ rule: 'base-type-changed', path: entry.path, message: `${entry.path}: Flatcar ${flatcarVersion} has a ${own.type === 'dir' ? 'directory' : own.type} here; the image's ${entry.type === 'dir' ? 'directory' : entry.type} would hide it${own.type === 'dir' ? ' and its whole contents' : ''}${hint(entry.path)}` });
    else if (own !== undefined && own.type !== 'dir' && entry.type !== 'dir')
      problems.push({ rule: 'base-file-shadowed', path: entry.path, message: `${entry.path}: Flatcar ${flatcarVersion} ships this path; the image would replace the host's own${hint(entry.path)}` });
    else if (entry.type !== 'dir' && LIBRARY_NAME.test(entry.path) && loaderDirectories(base).has(path.posix.dirname(entry.path)))
      problems.push({ rule: 'base-library-shadowed', path: entry.path, message: `${entry.path}: a library in ${path.posix.dirname(entry.path)}, which the host's loader searches, so host programs could load it instead of their own; keep libraries under a private prefix (as debian closures do in /usr/lib/bakehouse/NAME)${hint(entry.path)}` });
  }
  return problems;
}

/** The loader's directories as the base has them: one that is a symlink in the base is searched under its target too. */
function loaderDirectories(base: BaseContents): Set<string> {
  const dirs = new Set(LOADER_DIRECTORIES);
  for (const dir of LOADER_DIRECTORIES) {
    const entry = base.get(dir);
    if (entry?.type === 'symlink' && entry.target) dirs.add(path.posix.resolve(path.posix.dirname(dir), entry.target));
  }
  return dirs;
}

/** A footprint lists files only: their parent directories are directories in the image too. */
function withParents(image: readonly ImagePath[]): ImagePath[] {
  const byPath = new Map(image.map((e) => [e.path, e]));
  for (const entry of image)
    for (let dir = path.posix.dirname(entry.path); dir !== '/' && !byPath.has(dir); dir = path.posix.dirname(dir)) byPath.set(dir, { path: dir, type: 'dir' });
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
