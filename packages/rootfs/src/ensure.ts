import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import lockfile from 'proper-lockfile';
import { normalizeSpec, rootPath, type RootSpec } from './spec.js';

export class RootBuildError extends Error {
  override readonly name = 'RootBuildError';
}

export interface EnsureOptions {
  /** Told when a root has to be built (a minute or so), so a CLI can say why it is waiting. */
  log?: (message: string) => void;
  /** How long to wait for another process building the same root; default 15 minutes. */
  lockWaitMs?: number;
}

/** Documentation and manuals are never read in a root and make copies and overlays slower. */
const EXCLUDED = ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*'];

/**
 * Returns the path of the Debian root described by `spec`, building it with
 * `mmdebstrap --variant=minbase` the first time. The root is made under a temporary name
 * and renamed into place, so its directory exists only complete. A lock serialises builders
 * of one root; should a lock be lost anyway, the first rename wins and the other build is
 * thrown away. Treat the returned tree as read-only: boot copies or overlays of it.
 */
export async function ensureRoot(spec: RootSpec, options: EnsureOptions = {}): Promise<string> {
  const target = rootPath(spec);
  if (await isDirectory(target)) return target;
  const parent = path.dirname(target);
  await mkdir(parent, { recursive: true });
  const lockPath = path.join(parent, `.${path.basename(target)}.lock`);
  const waitMs = options.lockWaitMs ?? 15 * 60_000;
  const release = await lockfile
    .lock(target, {
      realpath: false,
      lockfilePath: lockPath,
      retries: { retries: Math.ceil(waitMs / 1000), factor: 1, minTimeout: 1000, maxTimeout: 1000 },
      // A lost lock is harmless here (rename decides), so it must not crash the process.
      onCompromised: () => {},
    })
    .catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ELOCKED') throw error;
      throw new RootBuildError(`root ${spec.name}: another process has been building it for over ${Math.round(waitMs / 1000)} s (lock ${lockPath}); try again when it is done, or remove the lock if no build is running`);
    });
  try {
    if (await isDirectory(target)) return target;
    await removeAbandoned(target);
    options.log?.(`building Debian ${spec.suite} root "${spec.name}" with mmdebstrap (once; cached in ${target})`);
    const partial = `${path.join(parent, `.${path.basename(target)}`)}.${randomBytes(6).toString('hex')}.partial`;
    try {
      await runMmdebstrap(spec, partial);
      await rename(partial, target).catch(async (error: NodeJS.ErrnoException) => {
        if ((error.code === 'ENOTEMPTY' || error.code === 'EEXIST') && (await isDirectory(target))) return;
        throw error;
      });
    } finally {
      // Must not hide the build's own error; a leftover is removed by the next build.
      await removeTree(partial).catch(() => {});
    }
    return target;
  } finally {
    await release().catch(() => {});
  }
}

async function runMmdebstrap(spec: RootSpec, into: string): Promise<void> {
  const { suite, packages, mirror, customize, arch } = normalizeSpec(spec);
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-rootfs-'));
  try {
    const args = [
      '--variant=minbase',
      `--architectures=${arch}`,
      `--include=${packages.join(',')}`,
      '--aptopt=Acquire::Retries "3"',
      ...EXCLUDED.map((p) => `--dpkgopt=path-exclude=${p}`),
    ];
    if (customize) {
      const script = path.join(scratch, 'customize.sh');
      await writeFile(script, customize, { mode: 0o755 });
      args.push(`--customize-hook=sh ${shellQuote(script)} "$1"`);
    }
    args.push(suite, into, mirror);
    const result = await execa('mmdebstrap', args, { reject: false, all: true, stdin: 'ignore' });
    if (result.exitCode !== 0) {
      const tail = (result.all ?? '').trim().split('\n').slice(-15).join('\n');
      const why = result.failed && result.exitCode === undefined ? result.shortMessage : `exit status ${result.exitCode}`;
      throw new RootBuildError(`root ${spec.name}: mmdebstrap ${suite} failed (${why}); nothing was cached. Its last output:\n${tail}\n` +
        `Check that ${mirror} is reachable and that the packages exist in ${suite}${customize ? ', and that the customize script succeeds' : ''}.`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Removes half-built roots left by a crashed build of this root (only lock holders build, so none is live). */
async function removeAbandoned(target: string): Promise<void> {
  const prefix = `.${path.basename(target)}.`;
  for (const entry of await readdir(path.dirname(target))) {
    if (entry.startsWith(prefix) && entry.endsWith('.partial')) await removeTree(path.join(path.dirname(target), entry));
  }
}

/**
 * mmdebstrap mounts /proc, /sys and /dev inside the root while it works; a crash can leave
 * them mounted. Staying on one file system keeps removal from reaching into the host's.
 */
async function removeTree(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  await execa('rm', ['-rf', '--one-file-system', '--', dir]);
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}

async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined)) !== undefined;
}
