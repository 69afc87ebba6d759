import { availableVersions, upstreamContext } from '@bakehouse/upstream';
import { printTable } from '../table.js';
import { findWorkspaceRoot, selectExtensions } from '../workspace.js';

export interface VersionsFlags {
  json?: boolean;
  prereleases?: boolean;
  upstream: string[];
}

/** The versions each input of an extension may take, newest first: what `bump` chooses from. */
export async function runVersions(name: string, flags: VersionsFlags): Promise<void> {
  const [extension] = await selectExtensions(await findWorkspaceRoot(), [name], { staleLock: true });
  const rows = await availableVersions(extension!.manifest, upstreamContext(process.env, flags.upstream), { includePrereleases: flags.prereleases });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write(`${name} has no upstream: its version is set with bakehouse bump ${name} --to VERSION\n`);
    return;
  }
  printTable(['input', 'version', 'source'], rows.map((row) => [row.input, row.version, row.source]));
}
