import { FLATCAR_BUILTIN_PATTERN, type ExtensionManifest } from '@bakehouse/schema';

export interface WorkspaceProblem {
  extension: string;
  field: string;
  message: string;
}



/**
 * Checks the relations between extensions: every name they mention exists, and no extension
 * requires (directly or through its requirements) two extensions that are declared to conflict,
 * because such a set could never be merged together.
 */
export function lintWorkspace(manifests: readonly ExtensionManifest[]): WorkspaceProblem[] {
  const byName = new Map(manifests.map((m) => [m.name, m]));
  const problems: WorkspaceProblem[] = [];
  const known = (name: string) => byName.has(name) || FLATCAR_BUILTIN_PATTERN.test(name);

  for (const m of manifests) {
    m.requires.forEach((req, i) => {
      for (const name of typeof req === 'string' ? [req] : req.anyOf)
        if (!known(name)) problems.push({ extension: m.name, field: `requires[${i}]`, message: `"${name}" is neither an extension in this workspace nor a Flatcar built-in` });
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
