import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

/**
 * Bumped whenever the way a root is made changes (mmdebstrap options, excluded paths), so
 * roots built the old way are not reused.
 */
export const ROOTFS_FORMAT = 1;

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';

export interface RootSpec {
  /** Names the root's directory for people reading the cache; not part of the key. */
  name: string;
  /** Debian suite: `trixie`, `bookworm`, … */
  suite: string;
  /** Packages installed on top of mmdebstrap's `minbase` variant. */
  packages: string[];
  /** Debian mirror URL; default deb.debian.org. */
  mirror?: string;
  /**
   * Content of a shell script run once the packages are installed, with the root's path as
   * `$1` (mmdebstrap's customize hook). Its text is part of the key.
   */
  customize?: string;
  /** Cache directory; default the bakehouse cache (see `defaultCacheDir`). */
  cacheDir?: string;
  /**
   * Debian architecture of the root; default the host's. A foreign one (an arm64 root on an
   * amd64 host, for an arm64 VM) needs qemu-user-static registered in binfmt_misc, since the
   * packages' maintainer scripts run inside it.
   */
  arch?: 'amd64' | 'arm64';
}

export class RootSpecError extends Error {
  override readonly name = 'RootSpecError';
}

const NAME = /^[a-z0-9][a-z0-9-]*$/;
const SUITE = /^[a-z][a-z0-9-]*$/;
// Debian policy §5.6.1: lower case letters, digits, + - . ; at least two characters.
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;

/** Checks a spec and puts it in canonical form: packages sorted and unique, mirror filled in. */
export function normalizeSpec(spec: RootSpec): Required<Omit<RootSpec, 'cacheDir'>> {
  const arch = spec.arch ?? hostDebianArch();
  if (arch !== 'amd64' && arch !== 'arm64') throw new RootSpecError(`root ${spec.name}: "arch": expected "amd64" or "arm64" (got ${JSON.stringify(arch)})`);
  if (!NAME.test(spec.name)) throw new RootSpecError(`root "name": expected lower-case letters, digits and "-", such as "testbed" (got ${JSON.stringify(spec.name)})`);
  if (!SUITE.test(spec.suite)) throw new RootSpecError(`root ${spec.name}: "suite": expected a Debian suite such as "trixie" (got ${JSON.stringify(spec.suite)})`);
  if (spec.packages.length === 0) throw new RootSpecError(`root ${spec.name}: "packages": expected at least one package, such as "systemd"`);
  const bad = spec.packages.find((p) => !PACKAGE.test(p));
  if (bad !== undefined) throw new RootSpecError(`root ${spec.name}: "packages": ${JSON.stringify(bad)} is not a Debian package name (lower case, digits, "+", "-", ".")`);
  const mirror = spec.mirror ?? DEFAULT_MIRROR;
  if (!/^(https?|file):\/\//.test(mirror)) throw new RootSpecError(`root ${spec.name}: "mirror": expected an http(s):// or file:// URL such as ${DEFAULT_MIRROR} (got ${JSON.stringify(mirror)})`);
  return { name: spec.name, suite: spec.suite, packages: [...new Set(spec.packages)].sort(), mirror, customize: spec.customize ?? '', arch };
}

/** Debian's name for the host architecture: roots are built for the machine that boots them. */
export function hostDebianArch(): 'amd64' | 'arm64' {
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as const)[os.arch() as 'x64' | 'arm64'];
  if (!arch) throw new RootSpecError(`roots can be built on amd64 and arm64 hosts only (this host is ${os.arch()})`);
  return arch;
}

/** sha256 of everything that decides a root's content. */
export function rootKey(spec: RootSpec): string {
  const { suite, packages, mirror, customize, arch } = normalizeSpec(spec);
  const inputs = { format: ROOTFS_FORMAT, variant: 'minbase', arch, suite, packages, mirror, customize };
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
}

/** $BAKEHOUSE_CACHE_DIR, else $XDG_CACHE_HOME/bakehouse, else ~/.cache/bakehouse. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  // The same rule as @bakehouse/builder's defaultCacheDir, restated because the builder
  // depends on this package (it builds DDIs in a tools root), not the other way round.
  if (env.BAKEHOUSE_CACHE_DIR) return path.resolve(env.BAKEHOUSE_CACHE_DIR);
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) return path.join(env.XDG_CACHE_HOME, 'bakehouse');
  return path.join(env.HOME || os.homedir(), '.cache', 'bakehouse');
}

/** Where the root for `spec` lives once built: CACHE/roots/NAME-SHA256. */
export function rootPath(spec: RootSpec): string {
  return path.join(spec.cacheDir ?? defaultCacheDir(), 'roots', `${spec.name}-${rootKey(spec)}`);
}
