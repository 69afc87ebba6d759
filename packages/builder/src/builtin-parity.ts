import type { ExtensionManifest } from '@bakehouse/schema';
import { BUILTIN_CUSTOMIZATION_POINTS, type CustomizationPoint } from './builtins.js';
import type { WorkspaceProblem } from './workspace-lint.js';

/**
 * Checks that an image declaring `replaces: [BUILTIN]` keeps every customization point the
 * built-in offers (builtins.ts): its generated units' directives, the files it ships
 * (`footprint`, the paths from extensionFootprint) and its sysusers lines. Pure.
 */
export function lintReplacements(manifest: ExtensionManifest, footprint: ReadonlySet<string>): WorkspaceProblem[] {
  const problems: WorkspaceProblem[] = [];
  manifest.replaces.forEach((builtin, i) => {
    const points = BUILTIN_CUSTOMIZATION_POINTS[builtin];
    if (!points) {
      problems.push({ extension: manifest.name, field: `replaces[${i}]`, message: `no customization points are recorded for "${builtin}" (known: ${Object.keys(BUILTIN_CUSTOMIZATION_POINTS).join(', ')}); add them to packages/builder/src/builtins.ts` });
      return;
    }
    for (const point of points) {
      const problem = checkPoint(manifest, footprint, point);
      if (problem) problems.push({ extension: manifest.name, field: problem.field, message: `${problem.message} (replaces "${builtin}"): ${point.why}` });
    }
  });
  return problems;
}

function checkPoint(manifest: ExtensionManifest, footprint: ReadonlySet<string>, point: CustomizationPoint): { field: string; message: string } | undefined {
  switch (point.kind) {
    case 'file':
      return footprint.has(point.path) ? undefined : { field: 'files', message: `ships no ${point.path}` };
    case 'sysusers':
      return manifest.sysusers.some((line) => point.matches.test(line)) ? undefined : { field: 'sysusers', message: `no sysusers line ${point.expect}` };
    case 'directive': {
      const field = `units["${point.unit}"].${point.section}.${point.key}`;
      const sections = manifest.units[point.unit];
      if (!sections) return { field: 'units', message: `generates no ${point.unit}, so none ${point.expect}` };
      const values = directiveValues(sections[point.section]?.[point.key]);
      if (point.matches && !values.some((v) => point.matches!.test(v))) return { field, message: `${point.unit} no longer ${point.expect}` };
      const forbidden = point.forbids && values.find((v) => point.forbids!.test(v));
      if (forbidden) return { field, message: `${point.unit}: "${forbidden}" breaks what it must do: it ${point.expect}` };
      return undefined;
    }
  }
}

/** A directive's values as the unit file will spell them (booleans render as yes/no). */
function directiveValues(value: ExtensionManifest['units'][string][string][string] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map((v) => (typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v)));
}
