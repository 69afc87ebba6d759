import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MissingToolError, requireTool } from '../tools.js';
import type { Arch } from '@bakehouse/schema';
import { runApt } from './apt-get.js';
import { createAptRoot, DEBIAN_KEYRING } from './apt-root.js';
import { DEBIAN_ARCH } from './arch.js';
import { ClosureResolutionError } from './errors.js';
import { markInstalled } from './exclusion.js';
import type { LockedDeb } from '@bakehouse/schema';
import { parsePrintUris } from './print-uris.js';
import { normalizeSource, type DebianSource } from './source.js';

export interface ResolveOptions {
  /**
   * Keeps apt's private root (and its downloaded index lists) in a subdirectory of this
   * directory, one per mirror, suite, components and arch, so the next call only revalidates
   * the lists. Calls for the same source and arch must not run at the same time (apt locks the
   * lists). Without it, a temporary directory is used and removed.
   */
  workDir?: string;
}

/**
 * Resolves the full dependency closure of `source.packages` as apt would install it on an empty
 * system (no package assumed installed but the excluded ones), for `arch`, with the real apt-get
 * in a private apt root. Nothing is executed for the target architecture, so arm64 resolves on an
 * amd64 host. The Release signatures are verified with Debian's archive keyring, which makes the
 * SHA256 sums trustworthy pins. Sorted by package name.
 */
export async function resolveClosure(source: DebianSource, arch: Arch, opts: ResolveOptions = {}): Promise<LockedDeb[]> {
  const normalized = normalizeSource(source);
  const debianArch = DEBIAN_ARCH[arch];
  await requireTool('apt-get');
  await requireKeyring();
  const describe = `${normalized.suite} (${normalized.components.join(', ')}, ${debianArch.debian}) of ${normalized.mirror}`;

  const dir = await aptRootDir(normalized, debianArch.debian, opts.workDir);
  try {
    const root = await createAptRoot(dir, normalized, debianArch);
    const update = await runApt(root, 'apt-get', ['update', '--error-on=any']);
    if (!update.ok) {
      throw new ClosureResolutionError(
        `Cannot read the package index of ${describe}; apt-get update said:\n${update.messages}\n` +
          'Check the suite and component names and that the mirror is reachable from here.',
      );
    }
    await markInstalled(root, normalized.exclude, describe);
    const install = await runApt(root, 'apt-get', ['install', '--print-uris', '--yes', ...normalized.packages]);
    if (!install.ok) throw unresolvable(normalized.packages, describe, install.messages);
    return parsePrintUris(install.stdout);
  } finally {
    if (opts.workDir === undefined) await rm(dir, { recursive: true, force: true });
  }
}

async function requireKeyring(): Promise<void> {
  try {
    await access(DEBIAN_KEYRING);
  } catch {
    throw new MissingToolError({ command: DEBIAN_KEYRING, debianPackage: 'debian-archive-keyring', versionArgs: [], purpose: "verify the signatures of Debian's package indexes" });
  }
}

/** A fresh temporary directory, or the reusable one in workDir that belongs to this source's index lists. */
async function aptRootDir(source: Required<DebianSource>, debianArch: string, workDir: string | undefined): Promise<string> {
  if (workDir === undefined) return mkdtemp(path.join(os.tmpdir(), 'bakehouse-apt-'));
  const key = createHash('sha256').update(JSON.stringify([source.mirror, source.suite, source.components, debianArch])).digest('hex').slice(0, 16);
  const dir = path.join(path.resolve(workDir), `apt-${source.suite.replaceAll('/', '-')}-${debianArch}-${key}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Names the packages apt could not find (the usual mistake) before quoting apt in full. */
function unresolvable(requested: readonly string[], describe: string, messages: string): ClosureResolutionError {
  const unknown = requested.filter((name) => {
    const quoted = name.replace(/[.+]/g, '\\$&');
    return new RegExp(`^E: (Unable to locate package ${quoted}|Package '${quoted}' has no installation candidate)$`, 'm').test(messages);
  });
  const headline =
    unknown.length > 0
      ? `Debian package${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} not found in ${describe}. Check the name${unknown.length > 1 ? 's' : ''} (https://packages.debian.org/${unknown[0]}) and the suite.`
      : `apt cannot resolve the dependencies of ${requested.join(', ')} in ${describe}. An excluded package may be required in a version or way apt cannot satisfy.`;
  return new ClosureResolutionError(`${headline}\napt-get said:\n${messages}`);
}
