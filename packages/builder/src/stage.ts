import { lstat, mkdir, readdir, readlink, symlink, copyFile, chmod, writeFile, lutimes } from 'node:fs/promises';
import path from 'node:path';
import { extractDebs, relocateClosure } from './debian/index.js';
import type { BuildPlan, PlannedClosure } from './plan.js';
import { listTree } from './tree.js';
import { renderGeneratedFiles } from './render.js';
import { unpackInput } from './unpack/index.js';

export class StageError extends Error {
  override readonly name = 'StageError';
}

/**
 * Builds the image's file tree in `stageDir` (which must be empty): inputs, then the files/
 * overlay, then generated files. A path may come from only one of them, so nothing is
 * silently shadowed. Finally every timestamp is pinned, so the image bytes depend on content only.
 */
export interface StagedDownloads {
  /** Input name → its file in the download cache. */
  inputs: ReadonlyMap<string, string>;
  /** The closure's .debs, in the plan's order. */
  debs: readonly string[];
}

export async function stageTree(plan: BuildPlan, downloads: StagedDownloads, stageDir: string, limits: { maxUnpackedBytes?: number } = {}): Promise<void> {
  const origin = new Map<string, string>();
  const claim = (imagePath: string, source: string) => {
    const previous = origin.get(imagePath);
    if (previous) throw new StageError(`${plan.name}: ${imagePath} comes from both ${previous} and ${source}; keep one`);
    origin.set(imagePath, source);
  };

  for (const input of plan.inputs) {
    const file = downloads.inputs.get(input.name);
    if (!file) throw new StageError(`${plan.name}: input "${input.name}" was not fetched`);
    const unpacked = await unpackInput(file, input, stageDir, { maxBytes: limits.maxUnpackedBytes });
    for (const entry of unpacked) claim(entry.path, `input "${input.name}"`);
  }

  if (plan.closure) for (const imagePath of await stageClosure(plan, plan.closure, downloads.debs, stageDir)) claim(imagePath, 'the Debian closure');

  for (const imagePath of await copyOverlay(plan.filesDir, stageDir)) claim(imagePath, `${path.relative(plan.extensionDir, plan.filesDir)}/${imagePath.slice(1)}`);

  for (const [imagePath, content] of renderGeneratedFiles(plan)) {
    claim(imagePath, 'the manifest');
    const target = path.join(stageDir, imagePath);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, content, { mode: 0o644 });
  }

  await pinTimestampsAndDirModes(stageDir, plan.sourceDateEpoch);
}

/**
 * Unpacks the .debs into the private prefix, relocates them there, and links the exported files
 * into place. Returns the image paths it created.
 */
async function stageClosure(plan: BuildPlan, closure: PlannedClosure, debs: readonly string[], stageDir: string): Promise<string[]> {
  const root = path.join(stageDir, closure.prefix);
  await extractDebs(debs, root);
  await relocateClosure(root, closure.prefix, plan.arch);
  const created = (await listTree(root)).filter((e) => e.type !== 'dir').map((e) => `${closure.prefix}${e.path}`);
  for (const [i, { from, to }] of closure.export.entries()) {
    const target = `${closure.prefix}${from}`;
    if (!(await lstat(path.join(stageDir, target)).catch(() => undefined)))
      throw new StageError(`${plan.name}: debian.export[${i}].from ${from} is not in the closure; check the path in the packages' file lists`);
    await mkdir(path.dirname(path.join(stageDir, to)), { recursive: true });
    await symlink(target, path.join(stageDir, to));
    created.push(to);
  }
  for (const mountPoint of closure.mountPoints) await mkdir(path.join(stageDir, mountPoint), { recursive: true });
  return created;
}

/** Copies the files/ overlay, normalising modes (0755 if executable, else 0644). Returns image paths of non-directories. */
async function copyOverlay(filesDir: string, stageDir: string): Promise<string[]> {
  const copied: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    const source = path.join(filesDir, relative);
    const entries = await readdir(source, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' && relative === '') return [];
      throw error;
    });
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = path.join(relative, entry.name);
      const from = path.join(filesDir, rel);
      const to = path.join(stageDir, rel);
      if (entry.isDirectory()) {
        await mkdir(to, { recursive: true });
        await walk(rel);
      } else if (entry.isSymbolicLink()) {
        await symlink(await readlink(from), to);
        copied.push(`/${rel}`);
      } else if (entry.isFile()) {
        const { mode } = await lstat(from);
        await copyFile(from, to);
        await chmod(to, mode & 0o111 ? 0o755 : 0o644);
        copied.push(`/${rel}`);
      } else {
        throw new StageError(`${from}: only files, directories and symlinks can go into an image`);
      }
    }
  };
  await walk('');
  return copied;
}

async function pinTimestampsAndDirModes(root: string, epoch: number): Promise<void> {
  const visit = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        await chmod(full, 0o755);
        await visit(full);
      }
      await lutimes(full, epoch, epoch);
    }
  };
  await visit(root);
  await chmod(root, 0o755);
  await lutimes(root, epoch, epoch);
}
