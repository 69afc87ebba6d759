/** Pure path rules shared by the archive guard (paths inside the archive) and the image check (paths in the image). */

export type Checked = { ok: true; path: string } | { ok: false; reason: string };

/**
 * Normalises an archive member name to "a/b/c" ("" for the archive root): "./", "." and empty
 * components are dropped. Absolute names and ".." components are refused rather than
 * normalised, because no legitimate release archive needs them.
 */
export function normaliseArchivePath(name: string): Checked {
  if (name.startsWith('/')) return { ok: false, reason: 'is an absolute path' };
  const parts = name.split('/');
  if (parts.includes('..')) return { ok: false, reason: 'has a ".." component' };
  return { ok: true, path: parts.filter((part) => part !== '' && part !== '.').join('/') };
}

/** Parent directory components of a normalised path: "a/b/c" → ["a", "b"]. */
export function parentComponents(normalisedPath: string): string[] {
  return normalisedPath.split('/').filter((part) => part !== '').slice(0, -1);
}

/**
 * Why a symlink in directory `linkDir` (components below `root`) pointing at `target` could
 * lead outside `root`, or undefined if it cannot. ".." is accepted only as leading components:
 * "a/../.." looks harmless lexically but escapes once "a" is itself a symlink, whereas leading
 * ".." steps climb real directories, which the guard and the staging area make sure they are.
 */
export function symlinkEscape(linkDir: readonly string[], target: string, root: 'the archive' | 'the image'): string | undefined {
  if (target === '') return 'is a symlink with an empty target';
  if (target.startsWith('/')) return `is a symlink to the absolute path "${target}"`;
  const parts = target.split('/').filter((part) => part !== '' && part !== '.');
  const firstName = parts.findIndex((part) => part !== '..');
  const climbs = firstName === -1 ? parts.length : firstName;
  if (parts.slice(climbs).includes('..'))
    return `is a symlink to "${target}", which uses ".." after a directory name and could escape through another symlink`;
  if (climbs > linkDir.length) return `is a symlink to "${target}", which points outside ${root}`;
  return undefined;
}
