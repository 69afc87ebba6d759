import { writeFile } from 'node:fs/promises';
import { runApt } from './apt-get.js';
import type { AptRoot } from './apt-root.js';
import { ClosureResolutionError } from './errors.js';

/** What apt needs to consider a dependency satisfied; Depends and Conflicts are left out on purpose (below). */
const KEPT_FIELDS = ['Package', 'Version', 'Architecture', 'Multi-Arch', 'Provides'];

/**
 * Excludes packages by telling apt they are already installed (at the archive's candidate
 * version, so versioned dependencies on them hold). apt then neither lists them nor pulls in
 * what they depend on; dropping their Depends keeps apt from calling the fake installation broken.
 * Filtering apt's answer instead would keep the excluded packages' own dependencies.
 *
 * Without Depends the fake entry no longer hashes like the archive's, so apt sees two versions
 * with one version string and would "upgrade" to the archive's whenever a new package depends on
 * it (passwd pulling in login.defs, for one). Pinning the installed one above everything keeps it.
 */
export async function markInstalled(root: AptRoot, packages: readonly string[], describe: string): Promise<void> {
  if (packages.length === 0) return;
  // apt-cache skips unknown names, and fails only when it found none: the missing names are the error either way.
  const shown = await runApt(root, 'apt-cache', ['show', '--no-all-versions', ...packages]);
  const stanzas = shown.stdout.split(/\n\s*\n/).map(parseStanza).filter((fields) => fields.has('Package'));
  const missing = packages.filter((name) => !stanzas.some((fields) => fields.get('Package') === name));
  if (missing.length > 0) {
    throw new ClosureResolutionError(
      `Cannot exclude ${missing.join(', ')}: no such package in ${describe}. ` +
        'Check the spelling; a virtual package (like debconf-2.0) cannot be excluded, exclude the real package that provides it.' +
        (shown.messages ? `\napt-cache said:\n${shown.messages}` : ''),
    );
  }
  const status = stanzas.map((fields) => [...KEPT_FIELDS.filter((f) => fields.has(f)).map((f) => `${f}: ${fields.get(f)}`), 'Status: install ok installed', ''].join('\n'));
  await writeFile(root.statusFile, status.join('\n'));
  await writeFile(root.preferencesFile, `Package: ${packages.join(' ')}\nPin: release a=now\nPin-Priority: 1001\n`);
}

/** Reads one deb822 stanza; continuation lines are joined to their field, which is all the kept fields need. */
function parseStanza(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (/^\s/.test(line) && last !== undefined) {
      fields.set(last, `${fields.get(last)} ${line.trim()}`);
      continue;
    }
    const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (!match) continue;
    last = match[1]!;
    fields.set(last, match[2]!);
  }
  return fields;
}
