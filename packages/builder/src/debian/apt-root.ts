import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DebianArch } from './arch.js';
import type { DebianSource } from './source.js';

/** Verifies the Release signatures, so the SHA256 sums apt prints for each .deb can be trusted. */
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** An apt that sees nothing of the host's: its own configuration, sources, index lists and dpkg status. */
export interface AptRoot {
  dir: string;
  /** Passed as APT_CONFIG. */
  configFile: string;
  /** dpkg's status file: empty, or the excluded packages as if installed. */
  statusFile: string;
  /** apt's pinning: empty, or the pins that keep the excluded packages as they are. */
  preferencesFile: string;
}

/**
 * Lays out a private apt root in `dir`. apt reads $APT_CONFIG before anything else, and because
 * that file moves Dir to here, the host's /etc/apt (apt.conf.d, sources, pinning) is never read:
 * the closure depends only on the source and the archive.
 */
export async function createAptRoot(dir: string, source: Required<DebianSource>, arch: DebianArch): Promise<AptRoot> {
  const root: AptRoot = {
    dir,
    configFile: path.join(dir, 'apt.conf'),
    statusFile: path.join(dir, 'var/lib/dpkg/status'),
    preferencesFile: path.join(dir, 'etc/apt/preferences'),
  };
  for (const sub of ['etc/apt/apt.conf.d', 'etc/apt/preferences.d', 'etc/apt/sources.list.d', 'var/lib/apt/lists/partial', 'var/cache/apt/archives/partial', 'var/lib/dpkg']) {
    await mkdir(path.join(dir, sub), { recursive: true });
  }
  // apt downloads as the unprivileged _apt user, which must be able to reach lists/partial.
  await chmod(dir, 0o755);
  await writeFile(path.join(dir, 'etc/apt/sources.list'), `deb [signed-by=${DEBIAN_KEYRING}] ${source.mirror} ${source.suite} ${source.components.join(' ')}\n`);
  // Reset on every call: a reused root must not keep the exclusions of the previous one.
  await writeFile(root.statusFile, '');
  await writeFile(root.preferencesFile, '');
  await writeFile(root.configFile, aptConfig(dir, arch));
  return root;
}

function aptConfig(dir: string, arch: DebianArch): string {
  return [
    `Dir "${dir}/";`,
    // Both set, so apt never asks the host's dpkg which architectures it has.
    `APT::Architecture "${arch.debian}";`,
    `APT::Architectures { "${arch.debian}"; };`,
    // Only what the packages need to work: a private prefix has no use for recommends.
    'APT::Install-Recommends "false";',
    'APT::Install-Suggests "false";',
    'Acquire::Languages "none";',
    // Makes --print-uris print SHA256 (not the first hash the index happens to list).
    'Acquire::ForceHash "SHA256";',
    '',
  ].join('\n');
}
