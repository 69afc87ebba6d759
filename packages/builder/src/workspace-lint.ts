import { FLATCAR_BUILTIN_PATTERN, type ExtensionManifest } from '@bakehouse/schema';
import { lintReplacements } from './builtin-parity.js';

export interface WorkspaceProblem {
  extension: string;
  field: string;
  message: string;
}


/**
 * Checks the relations between extensions: every name they mention exists; no extension
 * requires (directly or through its requirements) two extensions that are declared to conflict,
 * because such a set could never be merged together; every "anyOf" requirement has an
 * alternative the extension does not conflict with; and two extensions that may be merged
 * together (no conflict declared either way) ship no path in common, since one would silently
 * shadow the other; and an extension that declares `replaces` keeps the built-in's customization
 * points (builtin-parity.ts). `footprints` maps extension names to the paths they ship.
 */
export function lintWorkspace(manifests: readonly ExtensionManifest[], footprints: ReadonlyMap<string, ReadonlySet<string>> = new Map()): WorkspaceProblem[] {
  const byName = new Map(manifests.map((m) => [m.name, m]));
  const problems: WorkspaceProblem[] = [];
  const known = (name: string) => byName.has(name) || FLATCAR_BUILTIN_PATTERN.test(name);

  for (const m of manifests) {
    m.requires.forEach((req, i) => {
      const names = typeof req === 'string' ? [req] : req.anyOf;
      for (const name of names)
        if (!known(name)) problems.push({ extension: m.name, field: `requires[${i}]`, message: `"${name}" is neither an extension in this workspace nor a Flatcar built-in` });
      if (typeof req !== 'string' && names.every((name) => conflicts(m.name, name, byName)))
        problems.push({ extension: m.name, field: `requires[${i}]`, message: `every alternative of anyOf conflicts with "${m.name}": nothing can satisfy it` });
    });
    m.conflicts.extensions.forEach((name, i) => {
      if (!byName.has(name)) problems.push({ extension: m.name, field: `conflicts.extensions[${i}]`, message: `"${name}" is not an extension in this workspace` });
    });

    const closure = requiredClosure(m.name, byName);
    for (const a of closure)
      for (const b of closure)
        if (a < b && conflicts(a, b, byName))
          problems.push({ extension: m.name, field: 'requires', message: `needs both "${a}" and "${b}", which are declared to conflict` });
  }
  problems.push(...lintOverlaps(manifests, footprints, byName));
  for (const m of manifests) problems.push(...lintReplacements(m, footprints.get(m.name) ?? new Set()));
  return problems;
}

function lintOverlaps(manifests: readonly ExtensionManifest[], footprints: ReadonlyMap<string, ReadonlySet<string>>, byName: Map<string, ExtensionManifest>): WorkspaceProblem[] {
  const problems: WorkspaceProblem[] = [];
  for (const [i, a] of manifests.entries())
    for (const b of manifests.slice(i + 1)) {
      if (conflicts(a.name, b.name, byName)) continue;
      const theirs = footprints.get(b.name) ?? new Set<string>();
      const shared = [...(footprints.get(a.name) ?? [])].filter((p) => theirs.has(p)).sort();
      if (shared.length)
        problems.push({
          extension: a.name,
          field: 'conflicts.extensions',
          message: `ships ${shared.slice(0, 3).join(', ')}${shared.length > 3 ? ` and ${shared.length - 3} more` : ''} like "${b.name}", and neither declares a conflict: merged together, one would shadow the other. Declare the conflict or drop the path`,
        });
    }
  return problems;
}

function requiredClosure(name: string, byName: Map<string, ExtensionManifest>): Set<string> {
  const seen = new Set<string>();
  const visit = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const req of byName.get(n)?.requires ?? []) if (typeof req === 'string') visit(req);
  };
  visit(name);
  return seen;
}

function conflicts(a: string, b: string, byName: Map<string, ExtensionManifest>): boolean {
  const declares = (x: string, y: string) => {
    const c = byName.get(x)?.conflicts;
    return !!c && (c.extensions.includes(y) || c.builtins.includes(y));
  };
  return declares(a, b) || declares(b, a);
}
