import type { ExtensionManifest } from '@bakehouse/schema';
import { inputCandidates, versionLister } from './candidates.js';
import type { UpstreamContext } from './context.js';
import { orderVersions, type AvailableVersion } from './version-order.js';

export interface InputVersion extends AvailableVersion {
  input: string;
}

/**
 * Every version each input may take, newest first, over all the extension's lines: what
 * `bakehouse versions` shows and `bump` picks from. Inputs versioned by hand (no upstream) have none.
 */
export async function availableVersions(manifest: ExtensionManifest, ctx: UpstreamContext, opts: { includePrereleases?: boolean } = {}): Promise<InputVersion[]> {
  const list = versionLister(ctx, opts);
  const rows: InputVersion[] = [];
  for (const input of manifest.inputs) {
    const found = new Map<string, AvailableVersion>();
    for (const line of manifest.lines ?? [undefined]) for (const v of await inputCandidates(manifest, input, line, list)) found.set(v.version, v);
    // Already filtered; this only merges the lines' lists into one order.
    rows.push(...orderVersions([...found.values()], { includePrereleases: true }).map((v) => ({ input: input.name, ...v })));
  }
  return rows;
}
