import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { imageVersion } from './lock.js';
import { Version } from './manifest.js';

/**
 * systemd's own verdict: `systemd-analyze compare-versions A B` prints "A < B", "A == B" or "A > B",
 * and exits 12, 0 or 11 to say the same.
 */
async function systemdOrder(a: string, b: string): Promise<string> {
  const { stdout, code } = await promisify(execFile)('systemd-analyze', ['compare-versions', a, b]).then(
    (result) => ({ ...result, code: 0 }),
    (error: { stdout: string; code: number }) => error,
  );
  const verdict = stdout.trim().split(' ')[1]!;
  expect(code, stdout).toBe({ '<': 12, '==': 0, '>': 11 }[verdict]);
  return verdict;
}

/** sysupdate's version_is_valid(): letters, digits and ".,_+"; and "-" separates NAME, @v and %a in NAME-@v-%a.raw. */
const SYSUPDATE_VERSION = /^[A-Za-z0-9.,_+]+$/;

// Each row: an older image, and one that must sort above it. Revisions go on top of the
// upstream version they re-package and stay below every later upstream release, whatever its shape.
const ORDER: [string, { version: string; revision?: number }, { version: string; revision?: number }][] = [
  ['a revision above its upstream version', { version: '2.3.4' }, { version: '2.3.4', revision: 1 }],
  ['revisions in order', { version: '2.3.4', revision: 1 }, { version: '2.3.4', revision: 2 }],
  ['revision 10 above 9 (numeric, not text)', { version: '2.3.4', revision: 9 }, { version: '2.3.4', revision: 10 }],
  ['the next upstream patch above any revision', { version: '2.3.4', revision: 99 }, { version: '2.3.5' }],
  ['a fourth upstream component above any revision', { version: '2.3.4', revision: 3 }, { version: '2.3.4.1' }],
  ['a letter-suffixed upstream release above a revision', { version: '1.1.1', revision: 2 }, { version: '1.1.1a' }],
  ['a new minor line above a revision', { version: '1.35.7', revision: 4 }, { version: '1.36.0' }],
  ['a Debian-derived version: revision above the rebuild', { version: '5.4.2+ds1.2+b2' }, { version: '5.4.2+ds1.2+b2', revision: 1 }],
  ["a Debian binNMU above the previous one's revision", { version: '5.4.2+ds1.2+b2', revision: 1 }, { version: '5.4.2+ds1.2+b3' }],
  ["a Debian revision above the previous one's revision", { version: '5.4.2+ds1.2+b2', revision: 5 }, { version: '5.4.2+ds1.3' }],
  ['a four-part Debian version and its next', { version: '6.12.117.1', revision: 1 }, { version: '6.12.117.2' }],
  ['a moved upstream version starts over without revision', { version: '28.5.2', revision: 3 }, { version: '29.0.0' }],
];

describe('image versions with a packaging revision', () => {
  it('spell revision 0 as the upstream version itself and revision N as VERSION.rN', () => {
    expect(imageVersion({ version: '2.3.4' })).toBe('2.3.4');
    expect(imageVersion({ version: '2.3.4', revision: 2 })).toBe('2.3.4.r2');
  });

  it.each(ORDER)('order upward under systemd-analyze compare-versions: %s', async (_, older, newer) => {
    const [a, b] = [imageVersion(older), imageVersion(newer)];
    expect(`${a} ${await systemdOrder(a, b)} ${b}`).toBe(`${a} < ${b}`);
    expect(await systemdOrder(b, a)).toBe('>');
  });

  it('are valid manifest versions and sysupdate @v values, so NAME-@v-%a.raw matches them', () => {
    for (const [, older, newer] of ORDER)
      for (const version of [imageVersion(older), imageVersion(newer)]) {
        expect(Version.safeParse(version).success, version).toBe(true);
        expect(version, version).toMatch(SYSUPDATE_VERSION);
        // Splitting the file name at its first and last "-" gives back NAME, VERSION and ARCH.
        const file = `containerd-${version}-x86-64.raw`;
        expect(/^containerd-(.+?)-(x86-64|arm64)\.raw$/.exec(file)?.[1]).toBe(version);
      }
  });
});
