import { extensionFootprint, lintWorkspace } from '@bakehouse/builder';
import { findWorkspaceRoot, loadAllExtensions } from '../workspace.js';

/** Validates every manifest (loading throws on the first bad one, naming file and field) and their relations. */
export async function runLint(): Promise<void> {
  const root = await findWorkspaceRoot();
  const extensions = await loadAllExtensions(root);
  const footprints = new Map(await Promise.all(extensions.map(async (e) => [e.manifest.name, await extensionFootprint(e.manifest, e.dir)] as const)));
  const problems = lintWorkspace(
    extensions.map((e) => e.manifest),
    footprints,
  );
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
