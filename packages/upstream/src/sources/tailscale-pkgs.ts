import type { VersionSource } from '@bakehouse/schema';
import { z } from 'zod';
import type { UpstreamContext } from '../context.js';
import { UpstreamError } from '../errors.js';
import { getText } from '../http.js';
import type { FoundVersion } from '../version-order.js';

type TailscalePkgsSource = Extract<VersionSource, { type: 'tailscale-pkgs' }>;

/** The one field of the listing that names the static tarballs' version; it lists packages for every OS besides. */
const Listing = z.object({ TarballsVersion: z.string().regex(/^\d+\.\d+\.\d+$/) });

/**
 * The version of the static tarballs (tailscale_VERSION_ARCH.tgz) pkgs.tailscale.com offers on a
 * track. The site keeps only the current release's tarballs, so there is exactly one.
 */
export async function tailscalePkgs(source: TailscalePkgsSource, ctx: UpstreamContext): Promise<FoundVersion[]> {
  const url = `${ctx.bases.tailscale}/${source.track}/?mode=json`;
  const { text } = await getText(url, ctx.http);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  const listing = Listing.safeParse(data);
  if (!listing.success) throw new UpstreamError(url, `${url}: expected pkgs.tailscale.com's JSON listing with a TarballsVersion such as "1.102.5"`);
  return [{ version: listing.data.TarballsVersion, source: url }];
}
