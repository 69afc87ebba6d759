import type { ExtensionManifest, Input, VersionSource } from '@bakehouse/schema';
import semver from 'semver';
import type { UpstreamContext } from './context.js';
import { BumpError } from './errors.js';
import { listVersions } from './list-versions.js';
import { satisfiesRange, type AvailableVersion } from './version-order.js';

export type VersionLister = (source: VersionSource, line?: string) => Promise<AvailableVersion[]>;

/** listVersions for one run: each source (and line) is asked once, however many inputs and lines share it. */
export function versionLister(ctx: UpstreamContext, opts: { includePrereleases?: boolean } = {}): VersionLister {
  const answers = new Map<string, Promise<AvailableVersion[]>>();
  return (source, line) => {
    const key = JSON.stringify([source, line]);
    let answer = answers.get(key);
    if (!answer) answers.set(key, (answer = listVersions(source, ctx, { ...opts, line })));
    return answer;
  };
}

/**
 * The versions an input may take in the image of `line`, newest first: those of its own upstream
 * within its range ("{line}" standing for the image's line), else those of the extension's upstream.
 */
export async function inputCandidates(manifest: ExtensionManifest, input: Input, line: string | undefined, list: VersionLister): Promise<AvailableVersion[]> {
  if (!input.versionFrom) return imageCandidates(manifest, line, list);
  const { source, range } = input.versionFrom;
  // kubernetes-stable lists nothing but one version per line, so it is asked for the image's line;
  // other sources list every version and the range picks.
  const versions = await list(source, source.type === 'kubernetes-stable' ? line : undefined);
  if (range === undefined) return versions;
  const resolved = resolveRange(manifest, input, range, line);
  return versions.filter((v) => satisfiesRange(v.version, resolved));
}

/** The versions the extension's upstream offers for the image of `line`, newest first; none without an upstream. */
export async function imageCandidates(manifest: ExtensionManifest, line: string | undefined, list: VersionLister): Promise<AvailableVersion[]> {
  return manifest.upstream ? list(manifest.upstream, line) : [];
}

function resolveRange(manifest: ExtensionManifest, input: Input, range: string, line: string | undefined): string {
  if (range.includes('{line}') && line === undefined)
    throw new BumpError(`${manifest.name}: input "${input.name}" has range "${range}", but {line} needs "lines" in the manifest`);
  const resolved = range.replaceAll('{line}', line ?? '');
  if (semver.validRange(resolved) === null) throw new BumpError(`${manifest.name}: input "${input.name}" has range "${resolved}", which is not a semver range`);
  return resolved;
}
