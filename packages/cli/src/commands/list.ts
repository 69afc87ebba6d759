import { imageVersion, type ExtensionManifest } from '@bakehouse/schema';
import { findWorkspaceRoot, loadAllExtensions } from '../workspace.js';
import { printTable } from '../table.js';

export async function runList(flags: { json?: boolean; graph?: boolean }): Promise<void> {
  const extensions = await loadAllExtensions(await findWorkspaceRoot());
  if (flags.graph) {
    process.stdout.write(renderGraph(extensions.map((e) => e.manifest)));
    return;
  }
  const rows = extensions.map(({ manifest: m, lock }) => ({
    name: m.name,
    category: m.category,
    source: m.debian ? `debian ${m.debian.suite}` : 'upstream',
    versions: lock?.images.map(imageVersion) ?? [],
    compat: m.release.id === '_any' ? '_any' : m.release.compat,
    arch: m.arch,
    format: m.format,
    ...(m.lines ? { lines: m.lines } : {}),
    ...(m.lineSource ? { lineSource: m.lineSource.type } : {}),
  }));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  printTable(['name', 'versions', 'compat', 'arch', 'format'], rows.map((r) => [r.name, r.versions.join(' ') || '(not locked)', r.compat, r.arch.join(' '), r.format]));
}

/** requires → and conflicts ✕ edges per extension; names outside the workspace are Flatcar built-ins. */
export function renderGraph(manifests: readonly ExtensionManifest[]): string {
  const names = new Set(manifests.map((m) => m.name));
  const label = (name: string) => (names.has(name) ? name : `${name} (Flatcar built-in)`);
  return manifests
    .map((m) => {
      const edges = [
        ...m.requires.map((r) => `  requires   ${typeof r === 'string' ? label(r) : r.anyOf.map(label).join(' | ')}`),
        ...[...m.conflicts.extensions, ...m.conflicts.builtins].map((c) => `  conflicts  ${label(c)}`),
      ];
      return `${m.name}\n${edges.length ? edges.join('\n') : '  (no relations)'}\n`;
    })
    .join('');
}
