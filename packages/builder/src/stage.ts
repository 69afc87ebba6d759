import { lstat, mkdir, readdir, readlink, symlink, copyFile, chmod, writeFile, lutimes } from 'node:fs/promises';
import path from 'node:path';
import type { BuildPlan } from './plan.js';
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
export async function stageTree(plan: BuildPlan, downloads: ReadonlyMap<string, string>, stageDir: string): Promise<void> {
  const origin = new Map<string, string>();
  const claim = (imagePath: string, source: string) => {
    const previous = origin.get(imagePath);
    if (previous) throw new StageError(`${plan.name}: ${imagePath} comes from both ${previous} and ${source}; keep one`);
    origin.set(imagePath, source);
  };

  for (const input of plan.inputs) {
    const file = downloads.get(input.name);
    if (!file) throw new StageError(`${plan.name}: input "${input.name}" was not fetched`);
    const unpacked = await unpackInput(file, input, stageDir);
    for (const entry of unpacked) claim(entry.path, `input "${input.name}"`);
  }

  for (const imagePath of await copyOverlay(plan.filesDir, stageDir)) claim(imagePath, `${path.relative(plan.extensionDir, plan.filesDir)}/${imagePath.slice(1)}`);

  for (const [imagePath, content] of renderGeneratedFiles(plan)) {
    claim(imagePath, 'the manifest');
    const target = path.join(stageDir, imagePath);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, content, { mode: 0o644 });
  }

  await pinTimestampsAndDirModes(stageDir, plan.sourceDateEpoch);
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
