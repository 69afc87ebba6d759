import { findWorkspaceRoot, loadAllExtensions } from '../workspace.js';
import { printTable } from '../table.js';

export async function runList(flags: { json?: boolean }): Promise<void> {
  const extensions = await loadAllExtensions(await findWorkspaceRoot());
  const rows = extensions.map(({ manifest: m, lock }) => ({
    name: m.name,
    versions: lock?.images.map((image) => image.version) ?? [],
    compat: m.release.id === '_any' ? '_any' : m.release.compat,
    arch: m.arch,
    format: m.format,
  }));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  printTable(['name', 'versions', 'compat', 'arch', 'format'], rows.map((r) => [r.name, r.versions.join(' ') || '(not locked)', r.compat, r.arch.join(' '), r.format]));
}
