import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildRecordFiles, defaultCacheDir, extensionFootprint, lintAgainstBase, lintWorkspace, parseImageContents, readRecord, type BaseContents, type ImagePath, type WorkspaceProblem } from '@bakehouse/builder';
import type { ExtensionManifest } from '@bakehouse/schema';
import { cachedFlatcarContents, readFlatcarRelease } from '@bakehouse/upstream';
import { findWorkspaceRoot, loadAllExtensions, type LoadedExtension } from '../workspace.js';

export interface LintFlags {
  flatcarContents?: string;
  cacheDir?: string;
}

/**
 * Validates every manifest (loading throws on the first bad one, naming file and field), their
 * relations, and what each image would do to Flatcar's own /usr.
 */
export async function runLint(flags: LintFlags = {}): Promise<void> {
  const root = await findWorkspaceRoot();
  const extensions = await loadAllExtensions(root);
  const footprints = new Map(await Promise.all(extensions.map(async (e) => [e.manifest.name, await extensionFootprint(e.manifest, e.dir)] as const)));
  const problems = lintWorkspace(
    extensions.map((e) => e.manifest),
    footprints,
  );
  problems.push(...(await lintFlatcarInputs(extensions)));
  problems.push(...(await lintSignedListKeys(extensions)));
  const base = await baseContents(root, flags);
  if (base) for (const { manifest, dir } of extensions) problems.push(...(await lintImageAgainstBase(manifest, dir, base)));
  else process.stdout.write("note: Flatcar's image contents list is not cached, so images were not checked against its /usr: run bakehouse flatcar contents (or pass --flatcar-contents FILE)\n");
  for (const p of problems) {
    const file = extensions.find((e) => e.manifest.name === p.extension)?.file ?? p.extension;
    process.stderr.write(`${file}: ${p.field}: ${p.message}\n`);
  }
  if (problems.length) {
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${extensions.length} extension(s) OK\n`);
}

/**
 * Turbo must rebuild a release-pinned image when the target Flatcar release changes, and only
 * such an image: its package's turbo.json adds flatcar.json and the override variable to the
 * build hash (see extensions/oem-qemu/turbo.json).
 */
async function lintFlatcarInputs(extensions: readonly LoadedExtension[]): Promise<WorkspaceProblem[]> {
  const problems: WorkspaceProblem[] = [];
  for (const { manifest, dir } of extensions) {
    if (manifest.release.id !== 'flatcar' || manifest.release.compat !== 'release') continue;
    const config = await readFile(path.join(dir, 'turbo.json'), 'utf8').then(
      (text) => JSON.parse(text) as { tasks?: { build?: { inputs?: string[]; env?: string[] } } },
      () => undefined,
    );
    const build = config?.tasks?.build;
    if (!build?.inputs?.includes('$TURBO_ROOT$/flatcar.json') || !build.env?.includes('BAKEHOUSE_FLATCAR_VERSION'))
      problems.push({
        extension: manifest.name,
        field: 'release.compat',
        message: 'a release-pinned extension needs a turbo.json adding "$TURBO_ROOT$/flatcar.json" to build.inputs and BAKEHOUSE_FLATCAR_VERSION to build.env (copy extensions/oem-qemu/turbo.json)',
      });
  }
  return problems;
}

/** A signed checksum list is only as good as its key: the key file must be there before a bump needs it. */
async function lintSignedListKeys(extensions: readonly LoadedExtension[]): Promise<WorkspaceProblem[]> {
  const problems: WorkspaceProblem[] = [];
  for (const { manifest, dir } of extensions)
    for (const [i, input] of manifest.inputs.entries()) {
      if (input.checksum.from !== 'signed-sha256sums') continue;
      const key = input.checksum.key;
      const readable = await readFile(path.join(dir, key)).then(
        (bytes) => bytes.length > 0,
        () => false,
      );
      if (!readable)
        problems.push({ extension: manifest.name, field: `inputs[${i}].checksum.key`, message: `${key} (relative to the manifest) is missing or empty: add the public key the upstream signs its checksum list with` });
    }
  return problems;
}

interface Base {
  contents: BaseContents;
  version: string;
}

/** The list given with --flatcar-contents, else the one cached for flatcar.json's release. */
async function baseContents(root: string, flags: LintFlags): Promise<Base | undefined> {
  const release = await readFlatcarRelease(root);
  if (flags.flatcarContents) return { contents: parseImageContents(await readFile(flags.flatcarContents, 'utf8'), flags.flatcarContents), version: release?.version ?? 'the target release' };
  if (!release) return undefined;
  const cached = await cachedFlatcarContents(release, flags.cacheDir ?? defaultCacheDir());
  return cached && { contents: cached.contents, version: release.version };
}

/**
 * Checks the built images' file lists (their build records) when there are any, else what the
 * manifest is known to ship (its footprint), so a new extension is checked before its first build.
 */
async function lintImageAgainstBase(manifest: ExtensionManifest, dir: string, base: Base): Promise<WorkspaceProblem[]> {
  const distDir = path.join(dir, 'dist');
  const lists: ImagePath[][] = [];
  for (const file of await buildRecordFiles(distDir, manifest.name)) lists.push((await readRecord(path.join(distDir, file))).files);
  if (lists.length === 0) lists.push([...(await extensionFootprint(manifest, dir))].map((p) => ({ path: p, type: 'file' as const })));
  const seen = new Set<string>();
  return lists
    .flatMap((list) => lintAgainstBase(list, base.contents, manifest.overridesBase, base.version))
    .filter((p) => !seen.has(p.path) && seen.add(p.path))
    .map((p) => ({ extension: manifest.name, field: 'overridesBase', message: p.message }));
}
