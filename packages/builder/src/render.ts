import type { UnitSections } from '@bakehouse/schema';
import type { BuildPlan, UpholdDropIn } from './plan.js';

/** Files the builder generates from the manifest, keyed by image path. Pure. */
export function renderGeneratedFiles(plan: BuildPlan): Map<string, string> {
  const files = new Map<string, string>();
  files.set(`/usr/lib/extension-release.d/extension-release.${plan.name}`, renderExtensionRelease(plan.extensionRelease));
  for (const [name, sections] of Object.entries(plan.units)) files.set(`/usr/lib/systemd/system/${name}`, renderUnit(sections));
  for (const dropIn of plan.upholds) files.set(dropIn.path, renderUpholdDropIn(dropIn));
  if (plan.sysusers.length) files.set(`/usr/lib/sysusers.d/${plan.name}.conf`, `${plan.sysusers.join('\n')}\n`);
  if (plan.tmpfiles.length) files.set(`/usr/lib/tmpfiles.d/${plan.name}.conf`, `${plan.tmpfiles.join('\n')}\n`);
  return files;
}

export function renderExtensionRelease(fields: [string, string][]): string {
  return fields.map(([key, value]) => `${key}=${/[\s"'\\$`]/.test(value) ? JSON.stringify(value) : value}\n`).join('');
}

/** Renders unit sections in declaration order; arrays become repeated directives, as systemd allows. */
export function renderUnit(sections: UnitSections): string {
  return Object.entries(sections)
    .map(([section, directives]) => {
      const lines = Object.entries(directives).flatMap(([key, value]) =>
        (Array.isArray(value) ? value : [value]).map((v) => `${key}=${formatUnitValue(v)}`),
      );
      return `[${section}]\n${lines.join('\n')}\n`;
    })
    .join('\n');
}

function formatUnitValue(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}

function renderUpholdDropIn({ unit }: UpholdDropIn): string {
  return `[Unit]\nUpholds=${unit}\n`;
}

/** Reads os-release/extension-release syntax: KEY=value, optionally double- or single-quoted. */
export function parseExtensionRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, key, raw = ''] = match;
    fields[key!] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw.replace(/^'(.*)'$/, '$1');
  }
  return fields;
}
