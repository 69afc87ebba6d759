import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { extensionFootprint, lintWorkspace, type WorkspaceProblem } from '@bakehouse/builder';
import { findWorkspaceRoot, loadAllExtensions, type LoadedExtension } from '../workspace.js';

/** Validates every manifest (loading throws on the first bad one, naming file and field) and their relations. */
export async function runLint(): Promise<void> {
  const root = await findWorkspaceRoot();
  const extensions = await loadAllExtensions(root);
  const footprints = new Map(await Promise.all(extensions.map(async (e) => [e.manifest.name, await extensionFootprint(e.manifest, e.dir)] as const)));
  const problems = lintWorkspace(
    extensions.map((e) => e.manifest),
    footprints,
  );
  problems.push(...(await lintFlatcarInputs(extensions)));
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
