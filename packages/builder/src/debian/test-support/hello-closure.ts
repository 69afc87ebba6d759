import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fetchDownload } from '../../fetch/index.js';
import type { Arch } from '@bakehouse/schema';
import { extractDebs } from '../extract.js';
import type { LockedDeb } from '@bakehouse/schema';
import { resolveClosure } from '../resolve.js';

/** Where the tests mount the hello closure inside an image, as the podman extension will use /usr/lib/bakehouse/podman. */
export const HELLO_PREFIX = '/usr/lib/bakehouse/hello';

/** GNU hello from trixie: small (four packages, ~3 MB), and it needs libc, so it shows whether relocation works. */
export const HELLO_SOURCE = { suite: 'trixie', packages: ['hello'] };

export interface HelloClosure {
  locked: LockedDeb[];
  /** Verified .deb files in the download cache, in lock order. */
  debFiles: string[];
}

/** Resolves hello for `arch` and downloads its closure into `cacheDir`, each .deb verified against the SHA256 apt printed. */
export async function fetchHelloClosure(arch: Arch, workDir: string, cacheDir: string): Promise<HelloClosure> {
  const locked = await resolveClosure(HELLO_SOURCE, arch, { workDir });
  const debFiles = await Promise.all(locked.map((deb) => fetchDownload({ name: deb.package, url: deb.url, sha256: deb.sha256 }, { cacheDir })));
  return { locked, debFiles };
}

/** Unpacks the closure into <stage>/<prefix>, where it sits in the image tree, and returns that directory. */
export async function stageClosure(closure: HelloClosure, stage: string): Promise<string> {
  const closureRoot = path.join(stage, HELLO_PREFIX);
  await extractDebs(closure.debFiles, closureRoot);
  return closureRoot;
}

/** A fresh directory under the OS temp dir, removed by the returned cleanup. */
export async function makeTempDir(label: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `bakehouse-debian-${label}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
