import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LintError, lintTree, listTree, resolvePlan, stageTree } from '@bakehouse/builder';
import type { Arch, ExtensionLock, ExtensionManifest } from '@bakehouse/schema';
import { extensionName, imageVersionOf, parseTorcxFileName } from './image-name.js';
import { planConversion, type ConversionPlan } from './plan.js';
import { readTorcxImage } from './read.js';
import { stageConversion } from './stage.js';

export interface ConvertOptions {
  /** The extension name; by default the Torcx name (before the colon). */
  name?: string;
  /** The image version; by default the Torcx reference (after the colon). */
  version?: string;
  /** Only for images without ELF files; otherwise it must match them. */
  arch?: Arch;
}

/**
 * Converts the Torcx image `file` into a sysext tree at `filesDir`, which must not exist:
 * read → plan → stage. Scratch space lives beside `filesDir`, so moves stay renames; on any
 * error nothing is left at `filesDir` or beside it.
 */
export async function convertTorcx(file: string, filesDir: string, options: ConvertOptions = {}): Promise<ConversionPlan> {
  const image = parseTorcxFileName(file);
  const name = extensionName(image, options.name);
  const version = imageVersionOf(image, options.version);
  const scratch = await mkdtemp(path.join(path.dirname(filesDir), `.torcx-${name}-`));
  try {
    const rawDir = path.join(scratch, 'image');
    const plan = planConversion(await readTorcxImage(file, image, rawDir), { name, version, arch: options.arch });
    await stageConversion(plan, rawDir, filesDir);
    return plan;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Stages the extension as a build would and runs the builder's lint on it, without making an
 * image: what `convert-torcx --package` checks before it writes the package.
 */
export async function lintExtension(manifest: ExtensionManifest, lock: ExtensionLock, extensionDir: string, arch: Arch): Promise<void> {
  const [image] = lock.images;
  if (!image) throw new Error(`${manifest.name}: the lock holds no image`);
  const plan = resolvePlan(manifest, image, { extensionDir, arch });
  const stageDir = await mkdtemp(path.join(os.tmpdir(), `bakehouse-torcx-lint-${manifest.name}-`));
  try {
    await stageTree(plan, { inputs: new Map(), debs: [] }, stageDir);
    const problems = await lintTree(plan, stageDir, await listTree(stageDir));
    if (problems.length) throw new LintError(manifest.name, problems);
  } finally {
    await rm(stageDir, { recursive: true, force: true });
  }
}
