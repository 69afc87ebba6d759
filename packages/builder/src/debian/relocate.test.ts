import { mkdir, readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../hash.js';
import { listTree } from '../tree.js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relocateClosure } from './relocate.js';
import { gnuPropertyNoteIsValid } from './test-support/gnu-property-note.js';
import { fetchHelloClosure, HELLO_PREFIX, makeTempDir, stageClosure, type HelloClosure } from './test-support/hello-closure.js';

// Real hello debs from deb.debian.org, the real dpkg-deb and patchelf, and chroot (needs root).
let tmp: string;
let cleanup: () => Promise<void>;
let amd64: HelloClosure;
let arm64: HelloClosure;
let stageCount = 0;

beforeAll(async () => {
  ({ dir: tmp, cleanup } = await makeTempDir('relocate'));
  const [workDir, cacheDir] = [path.join(tmp, 'apt'), path.join(tmp, 'cache')];
  [amd64, arm64] = await Promise.all([fetchHelloClosure('x86-64', workDir, cacheDir), fetchHelloClosure('arm64', workDir, cacheDir)]);
});
afterAll(() => cleanup());

/** A new, empty image root with the closure unpacked at HELLO_PREFIX; returns [root, closureRoot]. */
async function freshStage(closure: HelloClosure): Promise<[string, string]> {
  const root = path.join(tmp, `stage-${++stageCount}`);
  return [root, await stageClosure(closure, root)];
}

function runInRoot(root: string, command: string) {
  return execa('chroot', [root, command], { reject: false, all: true, extendEnv: false, env: { PATH: '/usr/sbin:/usr/bin', LC_ALL: 'C' } });
}

async function patchelfPrint(file: string, what: '--print-interpreter' | '--print-rpath'): Promise<string> {
  return (await execa('patchelf', [what, file])).stdout.trim();
}

describe('relocateClosure', () => {
  it('makes hello run from its prefix in a root that has nothing else, not even a libc', async () => {
    const [root, closureRoot] = await freshStage(amd64);
    // Debian packages ship absolute links (usr/bin/x -> /etc/alternatives/x); this one must end up inside the prefix too.
    await symlink('/usr/bin/hello', path.join(closureRoot, 'usr/bin/hello-by-absolute-link'));

    const report = await relocateClosure(closureRoot, HELLO_PREFIX, 'x86-64');
    await mkdir(path.join(root, 'tmp'), { mode: 0o1777 });

    expect(await readdir(root)).toEqual(['tmp', 'usr']);
    expect(await readdir(path.join(root, 'usr/lib'))).toEqual(['bakehouse']);
    const direct = await runInRoot(root, `${HELLO_PREFIX}/usr/bin/hello`);
    expect(direct.all).toBe('Hello, world!');
    expect(direct.exitCode).toBe(0);
    expect((await runInRoot(root, `${HELLO_PREFIX}/usr/bin/hello-by-absolute-link`)).all).toBe('Hello, world!');

    const loader = `${HELLO_PREFIX}/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2`;
    const libDir = `${HELLO_PREFIX}/usr/lib/x86_64-linux-gnu`;
    // gconv/ holds libJIS.so and friends, which glibc's gconv modules need (they used RUNPATH=$ORIGIN).
    const runpath = [libDir, `${libDir}/gconv`];
    expect(report).toMatchObject({ interpreter: loader, runpath, symlinksRewritten: 1, setidStripped: [], unresolvedLibraries: [] });
    // hello and libc.so.6 have a PT_INTERP; libgcc_s and the rest are libraries; the loader is left alone.
    expect(report.executables).toBe(2);
    expect(report.libraries).toBeGreaterThan(5);
    expect(await patchelfPrint(path.join(closureRoot, 'usr/bin/hello'), '--print-interpreter')).toBe(loader);
    expect(await patchelfPrint(path.join(closureRoot, 'usr/bin/hello'), '--print-rpath')).toBe(runpath.join(':'));
    expect(await patchelfPrint(path.join(closureRoot, 'usr/lib/x86_64-linux-gnu/libc.so.6'), '--print-rpath')).toBe(runpath.join(':'));
    expect(await patchelfPrint(path.join(closureRoot, 'usr/lib/x86_64-linux-gnu/libgcc_s.so.1'), '--print-rpath')).toBe(runpath.join(':'));
    expect(await patchelfPrint(path.join(closureRoot, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), '--print-rpath')).toBe('');
    expect(await gnuPropertyNoteIsValid(path.join(closureRoot, 'usr/bin/hello'))).toBe(true);

    const links = (await listTree(closureRoot)).filter((entry) => entry.type === 'symlink');
    expect(links.length).toBeGreaterThan(1);
    for (const link of links) {
      expect(link.target).not.toMatch(/^\//);
      expect(path.posix.resolve(HELLO_PREFIX + path.posix.dirname(link.path), link.target!)).toMatch(new RegExp(`^${HELLO_PREFIX}/`));
    }
  });

  it('is what makes hello run: unrelocated, the same root cannot start it', async () => {
    const [root] = await freshStage(amd64);
    await mkdir(path.join(root, 'tmp'), { mode: 0o1777 });

    const result = await runInRoot(root, `${HELLO_PREFIX}/usr/bin/hello`);

    // The kernel cannot find hello's interpreter, /lib64/ld-linux-x86-64.so.2, in the root.
    expect(result.exitCode).toBe(127);
    expect(result.all).toMatch(/No such file or directory/);
  });

  it('points arm64 executables at the closure’s aarch64 loader without running anything of arm64', async () => {
    const [, closureRoot] = await freshStage(arm64);

    const report = await relocateClosure(closureRoot, HELLO_PREFIX, 'arm64');

    const loader = `${HELLO_PREFIX}/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1`;
    expect(report.interpreter).toBe(loader);
    expect(report.runpath).toEqual([`${HELLO_PREFIX}/usr/lib/aarch64-linux-gnu`, `${HELLO_PREFIX}/usr/lib/aarch64-linux-gnu/gconv`]);
    expect(await patchelfPrint(path.join(closureRoot, 'usr/bin/hello'), '--print-interpreter')).toBe(loader);
    expect(await patchelfPrint(path.join(closureRoot, 'usr/bin/hello'), '--print-rpath')).toBe(report.runpath.join(':'));
    // arm64 kernels refuse to exec a file whose PT_GNU_PROPERTY does not hold the property note (BTI).
    expect(await gnuPropertyNoteIsValid(path.join(closureRoot, 'usr/bin/hello'))).toBe(true);
    expect(await gnuPropertyNoteIsValid(path.join(closureRoot, 'usr/lib/aarch64-linux-gnu/libc.so.6'))).toBe(true);
  });

  it('gives the same bytes for the same closure', async () => {
    const [, first] = await freshStage(amd64);
    const [, second] = await freshStage(amd64);
    const before = await fingerprint(first);

    await relocateClosure(first, HELLO_PREFIX, 'x86-64');
    await relocateClosure(second, HELLO_PREFIX, 'x86-64');

    const after = await fingerprint(first);
    expect(after).not.toEqual(before);
    expect(await fingerprint(second)).toEqual(after);
  });
});

/** Every path with its type, mode, link target and, for files, sha256. */
async function fingerprint(root: string): Promise<string[]> {
  const entries = await listTree(root);
  return Promise.all(entries.map(async (e) => `${e.path} ${e.type} ${e.mode.toString(8)} ${e.target ?? ''} ${e.type === 'file' ? await sha256File(path.join(root, e.path)) : ''}`));
}
