import { rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { TreeEntry } from '../tree.js';

/**
 * The target a symlink at closure-relative `linkPath` must have so that it resolves inside the
 * closure, or undefined when its target already does. The target is resolved lexically as the
 * kernel would inside a chroot at the closure: an absolute target starts at the closure's root,
 * and ".." at the root stays there. Such links become relative, so they keep working wherever the closure is mounted
 * (the prefix inside the image) instead of reaching into the host's /.
 * `linkPath` must not pass through a symlinked directory (a walk that does not follow links guarantees it).
 */
export function containedTarget(linkPath: string, target: string): string | undefined {
  const linkDir = path.posix.dirname(linkPath) === '.' ? '' : path.posix.dirname(linkPath);
  const resolved = target.startsWith('/') ? [] : linkDir.split('/').filter(Boolean);
  let escaped = target.startsWith('/');
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') resolved.push(part);
    else if (resolved.pop() === undefined) escaped = true;
  }
  if (!escaped) return undefined;
  return path.posix.relative(`/${linkDir}`, `/${resolved.join('/')}`) || '.';
}

/** Rewrites every symlink of the closure whose target leaves it; returns how many it rewrote. */
export async function containSymlinks(closureRoot: string, tree: readonly TreeEntry[]): Promise<number> {
  let rewritten = 0;
  for (const entry of tree) {
    if (entry.type !== 'symlink' || entry.target === undefined) continue;
    const target = containedTarget(entry.path.slice(1), entry.target);
    if (target === undefined) continue;
    const link = path.join(closureRoot, entry.path);
    // Made beside the old link and renamed over it: the link is never missing, even if this is interrupted.
    const partial = `${link}.bakehouse-partial`;
    await rm(partial, { force: true });
    await symlink(target, partial);
    await rename(partial, link);
    rewritten += 1;
  }
  return rewritten;
}
