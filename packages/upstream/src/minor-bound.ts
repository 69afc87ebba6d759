import { expandUrl } from '@bakehouse/builder';
import type { ExtensionManifest, Input } from '@bakehouse/schema';
import { rewriteUrl } from './bases.js';
import type { UpstreamContext } from './context.js';
import { BumpError, UpstreamError } from './errors.js';
import { getText } from './http.js';
import { semverOf } from './version-order.js';

/** The range an input's `versionFrom.minorFrom` sets for one image version, and where it comes from. */
export interface MinorBound {
  /** "~1.4": the MAJOR.MINOR the file names. */
  range: string;
  /** As the file names it: "v1.4.3". */
  named: string;
  url: string;
}

/**
 * Reads the file in which the extension's upstream names the version of `input` it was released
 * with (containerd's script/setup/runc-version holds "v1.4.3" at tag v2.3.4) and keeps the input
 * in that MAJOR.MINOR. A branch may name a commit instead; a release tag must name a version, so
 * anything else is refused rather than guessed at.
 */
export async function minorBound(manifest: ExtensionManifest, input: Input, imageVersion: string, ctx: UpstreamContext): Promise<MinorBound | undefined> {
  const template = input.versionFrom?.minorFrom?.url;
  if (template === undefined) return undefined;
  // The template names no arch: any arch expands it the same way.
  const url = rewriteUrl(expandUrl(template, imageVersion, 'x86-64'), ctx.bases);
  const { text } = await getText(url, ctx.http).catch((error: unknown) => {
    if (error instanceof UpstreamError && error.status === 404)
      throw new BumpError(`${manifest.name}: input "${input.name}" follows the version ${url} names, but there is no such file for ${imageVersion} (HTTP 404)`);
    throw error;
  });
  const named = text.trim();
  const parsed = /^v?\d+\.\d+\.\d+\S*$/.test(named) ? semverOf(named) : null;
  if (!parsed) throw new BumpError(`${manifest.name}: input "${input.name}" follows the version ${url} names, but it holds "${named.slice(0, 80)}", not a version such as "v1.4.3"`);
  return { range: `~${parsed.major}.${parsed.minor}`, named, url };
}
