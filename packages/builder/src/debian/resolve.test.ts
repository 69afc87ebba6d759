import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Arch } from '@bakehouse/schema';
import { ClosureResolutionError } from './errors.js';
import { resolveClosure } from './resolve.js';
import { HELLO_SOURCE, makeTempDir } from './test-support/hello-closure.js';

// Talks to deb.debian.org. One work dir for the file, so later calls only revalidate apt's lists.
let workDir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir: workDir, cleanup } = await makeTempDir('resolve')));
afterAll(() => cleanup());

describe('resolveClosure', () => {
  it.each<[Arch, string]>([
    ['x86-64', 'amd64'],
    ['arm64', 'arm64'],
  ])('resolves hello for %s as for an empty system, pinned and sorted', async (arch, debianArch) => {
    const closure = await resolveClosure(HELLO_SOURCE, arch, { workDir });

    const names = closure.map((deb) => deb.package);
    expect(names).toEqual(expect.arrayContaining(['hello', 'libc6', 'libgcc-s1']));
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
    for (const deb of closure) {
      expect(deb.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(deb.version).toMatch(/^(\d+:)?[0-9][A-Za-z0-9.+~-]*$/);
      expect(deb.url).toMatch(new RegExp(`^http://deb\\.debian\\.org/debian/pool/main/.+/${deb.package}_[^_]+_${deb.architecture}\\.deb$`));
      expect(deb.size).toBeGreaterThan(0);
      expect([debianArch, 'all']).toContain(deb.architecture);
    }
    expect(closure.find((deb) => deb.package === 'hello')?.architecture).toBe(debianArch);
    expect(closure.find((deb) => deb.package === 'libc6')?.architecture).toBe(debianArch);
  });

  it('leaves out an excluded package together with what only it pulls in', async () => {
    // libc6 depends on libgcc-s1, and only libgcc-s1 depends on gcc-14-base.
    const full = await resolveClosure(HELLO_SOURCE, 'x86-64', { workDir });
    const trimmed = await resolveClosure({ ...HELLO_SOURCE, exclude: ['libgcc-s1'] }, 'x86-64', { workDir });

    expect(full.map((deb) => deb.package)).toContain('gcc-14-base');
    expect(trimmed.map((deb) => deb.package)).toEqual(full.map((deb) => deb.package).filter((name) => !['libgcc-s1', 'gcc-14-base'].includes(name)));
  });

  it('keeps an excluded package out even where apt would otherwise reinstall it', async () => {
    const closure = await resolveClosure({ suite: 'trixie', packages: ['passwd'], exclude: ['login.defs', 'libpam-modules'] }, 'x86-64', { workDir });

    const names = closure.map((deb) => deb.package);
    expect(names).toContain('passwd');
    expect(names).not.toContain('login.defs');
    expect(names).not.toContain('libpam-modules');
  });

  it('names a package that is not in the suite, and quotes apt', async () => {
    const attempt = resolveClosure({ suite: 'trixie', packages: ['hello', 'bakehouse-no-such-package'] }, 'x86-64', { workDir });

    await expect(attempt).rejects.toThrow(ClosureResolutionError);
    await expect(attempt).rejects.toThrow(/^Debian package bakehouse-no-such-package not found in trixie \(main, amd64\) of http:\/\/deb\.debian\.org\/debian\./);
    await expect(attempt).rejects.toThrow(/apt-get said:\nE: Unable to locate package bakehouse-no-such-package/);
  });

  it('names an excluded package that is not in the suite', async () => {
    const attempt = resolveClosure({ ...HELLO_SOURCE, exclude: ['bakehouse-no-such-package'] }, 'x86-64', { workDir });

    await expect(attempt).rejects.toThrow(/^Cannot exclude bakehouse-no-such-package: no such package in trixie/);
  });

  it('names a suite the mirror does not have', async () => {
    const attempt = resolveClosure({ suite: 'bakehouse-no-such-suite', packages: ['hello'] }, 'x86-64');

    await expect(attempt).rejects.toThrow(/^Cannot read the package index of bakehouse-no-such-suite \(main, amd64\) of http:\/\/deb\.debian\.org\/debian; apt-get update said:\n.*does not have a Release file/s);
  });

  it('refuses names apt would read as options, globs or versions before running it', async () => {
    const attempt = resolveClosure({ suite: 'trixie', packages: ['--simulate', 'hel*', 'hello=2.10-5'], exclude: ['Debconf'] }, 'x86-64');

    await expect(attempt).rejects.toThrow(
      'Invalid Debian source: "--simulate" is not a Debian package name; "hel*" is not a Debian package name; "hello=2.10-5" is not a Debian package name; "Debconf" is not a Debian package name',
    );
  });
});
