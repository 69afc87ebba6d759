import { ClosureResolutionError } from './errors.js';

/** Where a closure comes from: packages of one suite of a Debian archive. */
export interface DebianSource {
  suite: string;
  packages: string[];
  /** Default http://deb.debian.org/debian */
  mirror?: string;
  /** Default ['main'] */
  components?: string[];
  /** Packages to leave out of the closure together with what only they pull in (e.g. debconf). */
  exclude?: string[];
}

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';

/** Debian policy §5.6.1; also keeps apt from reading a name as a glob, a regex, an option or name=version. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
/** Suites and components end up in sources.list, so nothing that could start another field or line. */
const ARCHIVE_WORD = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

/** The source with its defaults filled in, after checking every field that reaches apt's files or command line. */
export function normalizeSource(source: DebianSource): Required<DebianSource> {
  const normalized = {
    suite: source.suite,
    packages: source.packages,
    mirror: source.mirror ?? DEFAULT_MIRROR,
    components: source.components ?? ['main'],
    exclude: source.exclude ?? [],
  };
  const problems = [
    ...(normalized.packages.length === 0 ? ['no packages requested'] : []),
    ...[...normalized.packages, ...normalized.exclude].filter((name) => !PACKAGE_NAME.test(name)).map((name) => `"${name}" is not a Debian package name`),
    ...normalized.packages.filter((name) => normalized.exclude.includes(name)).map((name) => `"${name}" is both requested and excluded`),
    ...[normalized.suite, ...normalized.components].filter((word) => !ARCHIVE_WORD.test(word)).map((word) => `"${word}" is not a suite or component name`),
    ...(normalized.components.length === 0 ? ['no components given'] : []),
    ...(/^(https?|file):\/\/\S+$/.test(normalized.mirror) ? [] : [`mirror "${normalized.mirror}" is not an http(s):// or file:// URL`]),
  ];
  if (problems.length > 0) throw new ClosureResolutionError(`Invalid Debian source: ${problems.join('; ')}`);
  return normalized;
}
