import { chmod, copyFile, mkdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RelocationError } from './errors.js';
import { relocateClosure } from './relocate.js';
import { makeTempDir } from './test-support/hello-closure.js';

// Hand-made closures (no network): the host's own /usr/bin/true stands in for a Debian executable.
let closureRoot: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir: closureRoot, cleanup } = await makeTempDir('tree')));
afterEach(() => cleanup());

async function put(relative: string, mode: number): Promise<string> {
  const file = path.join(closureRoot, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, '#!/bin/sh\n');
  await chmod(file, mode);
  return file;
}

async function hostTrue(relative: string): Promise<string> {
  const file = path.join(closureRoot, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await copyFile('/usr/bin/true', file);
  return file;
}

describe('relocateClosure on hand-made closures', () => {
  it('strips setuid and setgid, and brings every escaping symlink inside the closure', async () => {
    await put('usr/bin/newuidmap', 0o4755);
    await put('usr/bin/crontab', 0o2755);
    await put('usr/bin/plain', 0o755);
    await mkdir(path.join(closureRoot, 'var/mail'), { recursive: true });
    await chmod(path.join(closureRoot, 'var/mail'), 0o2775);
    await symlink('/etc/alternatives/vi', path.join(closureRoot, 'usr/bin/vi'));
    await symlink('../../../../../usr/bin/plain', path.join(closureRoot, 'usr/bin/climber'));
    await symlink('plain', path.join(closureRoot, 'usr/bin/sibling'));

    const report = await relocateClosure(closureRoot, '/usr/lib/bakehouse/tree', 'x86-64');

    expect(report).toEqual({
      interpreter: undefined,
      runpath: [],
      executables: 0,
      libraries: 0,
      symlinksRewritten: 2,
      setidStripped: ['usr/bin/crontab', 'usr/bin/newuidmap', 'var/mail'],
      unresolvedLibraries: [],
    });
    const mode = async (relative: string) => (await stat(path.join(closureRoot, relative))).mode & 0o7777;
    expect([await mode('usr/bin/newuidmap'), await mode('usr/bin/crontab'), await mode('var/mail')]).toEqual([0o755, 0o755, 0o775]);
    expect(await readlink(path.join(closureRoot, 'usr/bin/vi'))).toBe('../../etc/alternatives/vi');
    expect(await readlink(path.join(closureRoot, 'usr/bin/climber'))).toBe('plain');
    expect(await readlink(path.join(closureRoot, 'usr/bin/sibling'))).toBe('plain');
  });

  it('refuses a closure whose executables have no loader in it, and says to keep libc6', async () => {
    await hostTrue('usr/bin/true');

    await expect(relocateClosure(closureRoot, '/usr/lib/bakehouse/tree', 'x86-64')).rejects.toThrow(
      /usr\/bin\/true needs glibc's loader, but the closure has none of usr\/lib\/x86_64-linux-gnu\/ld-linux-x86-64\.so\.2, .*Keep libc6 in the closure/,
    );
  });

  it('refuses executables of another architecture, naming them', async () => {
    await hostTrue('usr/bin/true');

    const attempt = relocateClosure(closureRoot, '/usr/lib/bakehouse/tree', 'arm64');

    await expect(attempt).rejects.toThrow(RelocationError);
    await expect(attempt).rejects.toThrow(/holds executables for another architecture: usr\/bin\/true \(e_machine 0x3e\)\. Resolve and unpack the closure for arm64/);
  });

  it('refuses an executable that asks for a loader other than glibc’s', async () => {
    const file = await hostTrue('usr/bin/true');
    await execa('patchelf', ['--set-interpreter', '/lib/ld-musl-x86_64.so.1', file]);

    await expect(relocateClosure(closureRoot, '/usr/lib/bakehouse/tree', 'x86-64')).rejects.toThrow(
      /usr\/bin\/true \(\/lib\/ld-musl-x86_64\.so\.1\) asks for a loader other than glibc's ld-linux-x86-64\.so\.2/,
    );
  });

  it.each(['usr/lib/bakehouse/tree', '/usr/lib/../tree', '/usr/lib/bakehouse/tree/', '/opt/a:b', '/opt/$ORIGIN'])('refuses the prefix %s', async (prefix) => {
    await expect(relocateClosure(closureRoot, prefix, 'x86-64')).rejects.toThrow(`Cannot relocate to "${prefix}"`);
  });
});
