import semver, { type SemVer } from 'semver';

/** One version an upstream offers. */
export interface AvailableVersion {
  /** As the upstream's URLs spell it, tag prefix removed: "2.3.5". */
  version: string;
  /** Where it was found: "github:OWNER/REPO", or the URL that was read. */
  source: string;
}

/** What a source found, before ordering and filtering. */
export interface FoundVersion extends AvailableVersion {
  /** Marked as a pre-release by the upstream itself (GitHub's flag), whatever the version says. */
  prerelease?: boolean;
}

export interface VersionFilter {
  /** Only MAJOR.MINOR.x of this MAJOR.MINOR line. */
  line?: string;
  includePrereleases?: boolean;
}

/**
 * Upstream versions are not all strict semver ("1.34", "17.03.0-ce"), so they are read loosely for
 * ordering and ranges, keeping any pre-release tag; the version itself stays as upstream spells it.
 */
export function semverOf(version: string): SemVer | null {
  return semver.coerce(version, { loose: true, includePrerelease: true });
}

/** Newest first, without unreadable versions, pre-releases (unless asked for) and versions outside the line. */
export function orderVersions(found: readonly FoundVersion[], filter: VersionFilter = {}): AvailableVersion[] {
  return found
    .flatMap(({ version, source, prerelease }) => {
      const parsed = semverOf(version);
      if (!parsed) return [];
      if (!filter.includePrereleases && (prerelease || parsed.prerelease.length > 0)) return [];
      if (filter.line !== undefined && !semver.satisfies(parsed, `~${filter.line}`, { includePrerelease: true })) return [];
      return [{ version, source, parsed }];
    })
    .sort((a, b) => compareVersions(b.parsed, a.parsed))
    .map(({ version, source }) => ({ version, source }));
}

/** Both versions readable, and `version` the older. */
export function isOlder(version: string, than: string): boolean {
  const [a, b] = [semverOf(version), semverOf(than)];
  return a !== null && b !== null && compareVersions(a, b) < 0;
}

/**
 * semver ignores build metadata, but some upstreams number their rebuilds of one release there:
 * k3s tags v1.35.0+k3s1, then v1.35.0+k3s2. Equal versions are ordered by it, digits as numbers
 * (k3s2 < k3s10).
 */
function compareVersions(a: SemVer, b: SemVer): number {
  return semver.compare(a, b) || a.build.join('.').localeCompare(b.build.join('.'), 'en', { numeric: true });
}

export function satisfiesRange(version: string, range: string): boolean {
  const parsed = semverOf(version);
  return parsed !== null && semver.satisfies(parsed, range, { includePrerelease: true });
}
