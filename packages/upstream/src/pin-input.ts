import { FetchError, fetchUnpinned, inputUrl, type UnpinnedFetchOptions } from '@bakehouse/builder';
import type { Arch, Input, LockedInput } from '@bakehouse/schema';
import { rewriteUrl } from './bases.js';
import { checksumKind, resolveChecksum } from './checksum.js';
import type { UpstreamContext } from './context.js';

/**
 * Pins one input at one version for every arch. An upstream checksum is proven right by
 * downloading the file, which also leaves it in the cache for the next build. The download must
 * really happen: fetchDownload would accept a cache entry instead, and a checksum file that lies
 * with the hash of a file already cached (the other arch's) would then pass unnoticed.
 */
export async function pinInput(
  input: Input,
  version: string,
  arches: readonly Arch[],
  ctx: UpstreamContext,
  fetchOptions: UnpinnedFetchOptions,
  extensionDir?: string,
): Promise<LockedInput> {
  const sha256: LockedInput['sha256'] = {};
  for (const arch of arches) {
    const url = inputUrl(input, version, arch);
    const resolved = await resolveChecksum(input.checksum, { input: input.name, url, version, arch, extensionDir }, ctx, fetchOptions);
    if (resolved.checksum !== 'computed') await verifyDownload(input.name, rewriteUrl(url, ctx.bases), resolved.sha256, fetchOptions);
    sha256[arch] = resolved.sha256;
  }
  return { version, sha256, checksum: checksumKind(input.checksum) };
}

async function verifyDownload(name: string, url: string, published: string, fetchOptions: UnpinnedFetchOptions): Promise<void> {
  const { sha256 } = await fetchUnpinned({ name, url }, fetchOptions);
  if (sha256 !== published)
    throw new FetchError(
      name,
      url,
      `${name}: checksum mismatch for ${url}\n  upstream publishes sha256 ${published}\n  the file has sha256     ${sha256}\n` +
        "Upstream's checksum does not match its file (a checksum file for another arch or version, or an asset re-published): the lock was left as it was.",
    );
}
