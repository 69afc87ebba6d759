import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createJiti } from 'jiti';
import { LOCK_FILE, ManifestError, parseExtension, parseLock, parseLockStructure, withLockedLines, type ExtensionLock, type ExtensionManifest } from '@bakehouse/schema';

export const MANIFEST_FILE = 'extension.ts';

export interface LoadedExtension {
  manifest: ExtensionManifest;
  dir: string;
  /** The manifest file, relative to the workspace root: what error messages name. */
  file: string;
  /** The lock file, relative to the workspace root. */
  lockFile: string;
  /** Absent until `bakehouse bump` first writes it. */
  lock?: ExtensionLock;
}

/** The extension's lock, or an error saying how to create it. */
export function requireLock(extension: LoadedExtension): ExtensionLock {
  if (!extension.lock) throw new WorkspaceError(`${extension.lockFile} is missing: run bakehouse bump ${extension.manifest.name} to resolve and pin its inputs`);
  return extension.lock;
}

export interface LoadOptions {
  /** Accept a lock the manifest has outgrown (an input added, a line dropped): bump reads it only to rewrite it. */
  staleLock?: boolean;
}

export class WorkspaceError extends Error {
  override readonly name = 'WorkspaceError';
}

/** The directory holding pnpm-workspace.yaml, searched upwards from `from`. */
export async function findWorkspaceRoot(from = process.cwd()): Promise<string> {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (await exists(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (path.dirname(dir) === dir) throw new WorkspaceError(`no pnpm-workspace.yaml above ${from}: run bakehouse inside the Bakehouse workspace`);
  }
}

/** Loads and validates one extension's manifest, checking that its name is the package's name. */
export async function loadExtension(dir: string, root: string, options: LoadOptions = {}): Promise<LoadedExtension> {
  const file = path.relative(root, path.join(dir, MANIFEST_FILE));
  const jiti = createJiti(import.meta.url, { moduleCache: false, fsCache: false });
  let exported: unknown;
  try {
    exported = await jiti.import(path.join(dir, MANIFEST_FILE), { default: true });
  } catch (error) {
    throw new WorkspaceError(`${file}: cannot load the manifest: ${(error as Error).message}`);
  }
  const manifest = parseExtension(exported, file);
  const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
  if (pkg.name !== manifest.name)
    throw new ManifestError(file, [{ field: 'name', expected: `the package name "${pkg.name}" (from ${path.relative(root, path.join(dir, 'package.json'))}), got "${manifest.name}"` }]);
  const lockFile = path.relative(root, path.join(dir, LOCK_FILE));
  const lockText = await readFile(path.join(dir, LOCK_FILE), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (lockText === undefined) return { manifest, dir, file, lockFile };
  let lockData: unknown;
  try {
    lockData = JSON.parse(lockText);
  } catch (error) {
    throw new ManifestError(lockFile, [{ field: '(file)', expected: `valid JSON (${(error as Error).message})` }]);
  }
  const lock = options.staleLock ? parseLockStructure(lockData, lockFile) : parseLock(lockData, lockFile, manifest);
  // A manifest whose lineSource decides its lines has them in its lock: everything else reads them as `lines`.
  return { manifest: withLockedLines(manifest, lock), dir, file, lockFile, lock };
}

/** Every extensions/NAME with a manifest, in name order. */
export async function loadAllExtensions(root: string, options: LoadOptions = {}): Promise<LoadedExtension[]> {
  const base = path.join(root, 'extensions');
  const names = (await readdir(base, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  const dirs = [];
  for (const name of names) if (await exists(path.join(base, name, MANIFEST_FILE))) dirs.push(path.join(base, name));
  return Promise.all(dirs.map((dir) => loadExtension(dir, root, options)));
}

/** The extensions named, or the one whose directory we are in (how each package's build script calls us), or all. */
export async function selectExtensions(root: string, names: readonly string[], options: LoadOptions & { cwd?: string } = {}): Promise<LoadedExtension[]> {
  const cwd = options.cwd ?? process.cwd();
  if (names.length === 0 && (await exists(path.join(cwd, MANIFEST_FILE)))) return [await loadExtension(cwd, root, options)];
  const all = await loadAllExtensions(root, options);
  if (names.length === 0) return all;
  return names.map((name) => {
    const found = all.find((e) => e.manifest.name === name);
    if (!found) throw new WorkspaceError(`no extension "${name}"; known: ${all.map((e) => e.manifest.name).join(', ') || '(none)'}`);
    return found;
  });
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
