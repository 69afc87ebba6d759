import path from 'node:path';
import { createProgress, defaultCacheDir } from '@bakehouse/builder';
import { imageVersion, LOCK_FILE } from '@bakehouse/schema';
import { bump, BumpError, describeChanges, revise, upstreamContext, writeBump, type BumpResult } from '@bakehouse/upstream';
import { findWorkspaceRoot, loadAllExtensions, selectExtensions, type LoadedExtension } from '../workspace.js';

export interface BumpFlags {
  to?: string;
  upstream: string[];
  cacheDir?: string;
  quiet?: boolean;
  /** A packaging revision of the locked versions instead of an upstream move. */
  revision?: boolean;
  message?: string;
  line?: string;
}

/** Moves the named extensions (without names: every one with an upstream) to new versions, rewriting locks and adding changesets. */
export async function runBump(names: string[], flags: BumpFlags): Promise<void> {
  if (flags.to !== undefined && names.length !== 1) throw new BumpError(`--to names one version: give exactly one extension name (got ${names.length})`);
  if (flags.revision) return runRevision(names, flags);
  const root = await findWorkspaceRoot();
  const extensions = names.length > 0 ? await selectExtensions(root, names, { staleLock: true }) : await withUpstream(root);

  const ctx = upstreamContext(process.env, flags.upstream);
  const progress = createProgress({ quiet: flags.quiet });
  const results: [LoadedExtension, BumpResult][] = [];
  try {
    // Every bump is worked out before any is written, so a failure leaves the whole workspace as it was.
    for (const extension of extensions)
      results.push([extension, await bump(extension, { ctx, to: flags.to, fetch: { cacheDir: flags.cacheDir ?? defaultCacheDir(), progress }, lockFile: extension.lockFile })]);
  } finally {
    progress.stop();
  }

  await writeResults(root, results);
}

/** `bump NAME --revision -m WHY`: the same upstream versions and pins, the next packaging revision, and a changeset saying why. */
async function runRevision(names: string[], flags: BumpFlags): Promise<void> {
  if (names.length === 0) throw new BumpError('--revision re-packages named extensions: give their names (bakehouse bump NAME --revision --message "what changed")');
  if (flags.to !== undefined) throw new BumpError('--revision keeps the locked upstream version; drop --to (or bump to the new version, which starts at revision 0)');
  const root = await findWorkspaceRoot();
  const extensions = await selectExtensions(root, names);
  const results = extensions.map((extension): [LoadedExtension, BumpResult] => {
    if (!extension.lock) throw new BumpError(`${extension.manifest.name}: ${extension.lockFile} does not exist yet; run bakehouse bump ${extension.manifest.name} first`);
    return [extension, revise(extension.manifest.name, extension.lock, { reason: flags.message ?? '', line: flags.line })];
  });
  await writeResults(root, results);
}

async function writeResults(root: string, results: [LoadedExtension, BumpResult][]): Promise<void> {
  for (const [extension, result] of results) {
    const changeset = await writeBump(result, { lockFile: path.join(extension.dir, LOCK_FILE), changesetDir: path.join(root, '.changeset') });
    if (changeset === undefined) {
      process.stdout.write(`${result.name}: up to date (${result.lock.images.map(imageVersion).join(', ')})\n`);
      continue;
    }
    process.stdout.write(`${result.name}: ${describeChanges(result.changes).join('; ')}\n  wrote ${extension.lockFile} and ${path.relative(root, changeset)}\n`);
  }
}

async function withUpstream(root: string): Promise<LoadedExtension[]> {
  const all = await loadAllExtensions(root, { staleLock: true });
  const found = all.filter((extension) => extension.manifest.upstream);
  if (found.length === 0) throw new BumpError('no extension declares an "upstream": name the extensions to bump, with --to VERSION');
  return found;
}
