import { access, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildImage, defaultCacheDir, extensionFootprint, listTree, resolvePlan, type SquashfsCompression } from '@bakehouse/builder';
import { imageVersion, LOCK_FILE, parseExtension, type Arch, type ExtensionLock, type ExtensionManifest } from '@bakehouse/schema';
import { convertTorcx, extensionLock, extensionName, extensionSource, formatReport, lintExtension, parseTorcxFileName, type ConversionPlan, type ConvertOptions } from '@bakehouse/torcx';
import { findWorkspaceRoot, loadAllExtensions, WorkspaceError } from '../workspace.js';
import { butaneSection, manifestModule, newChangeset, packageFiles, ScaffoldError, writeExtensionPackage } from './new.js';

export interface ConvertTorcxFlags {
  name?: string;
  version?: string;
  arch?: Arch;
  package?: boolean;
  image?: boolean;
  out: string;
  description?: string;
  homepage?: string;
  compression?: SquashfsCompression;
  cacheDir?: string;
}

/**
 * `bakehouse convert-torcx NAME:REF.torcx.tgz`: the Torcx image as a new extension package
 * (--package, the default: versioned, linted, built and published like any other) or straight
 * as an image (--image). Either way the converted tree passes the builder's lint first.
 */
export async function runConvertTorcx(file: string, flags: ConvertTorcxFlags): Promise<void> {
  if (flags.package && flags.image) throw new ScaffoldError('convert-torcx: give --package (an extension package) or --image (an image), not both');
  const options: ConvertOptions = { name: flags.name, version: flags.version, arch: flags.arch };
  if (flags.image) await convertToImage(file, flags, options);
  else await convertToPackage(file, flags, options);
}

async function convertToPackage(file: string, flags: ConvertTorcxFlags, options: ConvertOptions): Promise<void> {
  const root = await findWorkspaceRoot();
  const name = extensionName(parseTorcxFileName(file), options.name);
  const dir = path.join(root, 'extensions', name);
  if (await exists(dir)) throw new ScaffoldError(`${path.relative(root, dir)} already exists: pick another name with --name (e.g. --name ${name}-torcx), or remove it`);

  await mkdir(path.dirname(dir), { recursive: true });
  // Beside the package's final place, so its files/ moves there by rename.
  const work = await mkdtemp(path.join(path.dirname(dir), `.convert-${name}-`));
  try {
    const filesDir = path.join(work, 'files');
    const plan = await convertTorcx(file, filesDir, options);
    const source = extensionSource(plan, { description: flags.description, homepage: flags.homepage, conflictingExtensions: await overlappingExtensions(root, filesDir) });
    const manifest = parseExtension(source, path.relative(root, path.join(dir, 'extension.ts')));
    const lock = extensionLock(plan);
    await lintExtension(manifest, lock, work, plan.arch);

    const files = {
      ...packageFiles(manifest),
      'extension.ts': manifestModule(source, manifestComment(plan)),
      [LOCK_FILE]: `${JSON.stringify(lock, null, 2)}\n`,
      'README.md': packageReadme(manifest, lock, plan),
    };
    const changeset = await writeExtensionPackage(root, name, files, newChangeset(manifest, lock), (staging) => rename(filesDir, path.join(staging, 'files')));
    process.stdout.write(
      `${formatReport(plan)}created ${path.relative(root, dir)} (${imageVersion(lock.images[0]!)}, ${plan.arch}) and ${path.relative(root, changeset)}\n` +
        `next: pnpm install && pnpm bakehouse lint && pnpm turbo build --filter ${name}\n`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function convertToImage(file: string, flags: ConvertTorcxFlags, options: ConvertOptions): Promise<void> {
  const outDir = path.resolve(flags.out);
  const work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-convert-torcx-'));
  try {
    const plan = await convertTorcx(file, path.join(work, 'files'), options);
    const manifest = parseExtension(extensionSource(plan, { description: flags.description, homepage: flags.homepage }), `the manifest made for ${path.basename(file)}`);
    const [image] = extensionLock(plan).images;
    await mkdir(outDir, { recursive: true });
    const built = await buildImage(
      resolvePlan(manifest, image!, { extensionDir: work, arch: plan.arch, compression: flags.compression, sourceDateEpoch: sourceDateEpoch() }),
      outDir,
      { cacheDir: flags.cacheDir ?? defaultCacheDir() },
    );
    process.stdout.write(`${formatReport(plan)}wrote ${path.relative(process.cwd(), built.imagePath) || built.imagePath} (${built.record.image.bytes} bytes, sha256 ${built.record.image.sha256})\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Workspace extensions that ship a path of the converted tree: the manifest declares the conflict, as lint demands. */
async function overlappingExtensions(root: string, filesDir: string): Promise<string[]> {
  const converted = new Set((await listTree(filesDir)).filter((entry) => entry.type !== 'dir').map((entry) => entry.path));
  const overlapping: string[] = [];
  for (const extension of await loadAllExtensions(root)) {
    const footprint = await extensionFootprint(extension.manifest, extension.dir);
    if ([...footprint].some((imagePath) => converted.has(imagePath))) overlapping.push(extension.manifest.name);
  }
  return overlapping;
}

function manifestComment(plan: ConversionPlan): string {
  return `// Converted by \`bakehouse convert-torcx\` from ${plan.report.archive}: files/ holds the converted tree,\n// \`enable\` comes from its .wants links. README.md lists what the conversion changed and left out.\n`;
}

function packageReadme(manifest: ExtensionManifest, lock: ExtensionLock, plan: ConversionPlan): string {
  const { name } = manifest;
  const image = `${name}-${imageVersion(lock.images[0]!)}-${plan.arch}.raw`;
  return `# ${name}

${manifest.description}. Converted by \`bakehouse convert-torcx\`; \`files/\` holds the converted tree.

## What the conversion did

${formatReport(plan)}
Build: \`pnpm turbo build --filter ${name}\` → \`extensions/${name}/dist/${image}\`.
A new version: convert the new Torcx image with \`--image\` into a scratch directory (or edit \`files/\`), then
\`pnpm bakehouse bump ${name} --to VERSION\`; a packaging-only change: \`pnpm bakehouse bump ${name} --revision -m "what changed"\`.

${butaneSection(name, image)}`;
}

/** SOURCE_DATE_EPOCH, as `bakehouse build` reads it: the timestamp of every file, 0 when unset. */
function sourceDateEpoch(): number {
  const value = process.env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return 0;
  if (!/^\d+$/.test(value)) throw new WorkspaceError(`SOURCE_DATE_EPOCH must be a whole number of seconds, got "${value}"`);
  return Number(value);
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
