import { describe, expect, it } from 'vitest';
import { containedTarget } from './contain-symlink.js';

describe('containedTarget', () => {
  it.each([
    // [link, target, rewritten target]
    ['usr/bin/vi', '/etc/alternatives/vi', '../../etc/alternatives/vi'],
    ['usr/lib/x86_64-linux-gnu/libfoo.so', '/usr/lib/x86_64-linux-gnu/libfoo.so.1', 'libfoo.so.1'],
    ['lib64', '/usr/lib64', 'usr/lib64'],
    ['usr/share/foo', '/', '../..'],
    ['usr/bin/tool', '/usr/./lib//tool/../tool/bin/', '../lib/tool/bin'],
    // ".." past the root stays at the root, as in a chroot.
    ['usr/bin/up', '../../../../etc/passwd', '../../etc/passwd'],
  ])('rewrites %s -> %s to %s', (link, target, rewritten) => {
    expect(containedTarget(link, target)).toBe(rewritten);
  });

  it.each([
    ['usr/lib64/ld-linux-x86-64.so.2', '../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'],
    ['usr/share/doc/libgcc-s1', 'gcc-14-base'],
    ['usr/bin/top', '../..'],
  ])('keeps %s -> %s, which stays inside', (link, target) => {
    expect(containedTarget(link, target)).toBeUndefined();
  });
});
