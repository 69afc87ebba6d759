import path from 'node:path';
import { expandUrl, fetchUnpinned, type UnpinnedFetchOptions } from '@bakehouse/builder';
import type { Arch, Input, LockedInput } from '@bakehouse/schema';
import { rewriteUrl } from './bases.js';
import type { UpstreamContext } from './context.js';
import { UpstreamError } from './errors.js';
import { getBytes, getText } from './http.js';
import { verifySignedList } from './signed-list.js';

/** One download of an input: its name, its real upstream URL, and the version and arch it is for. */
export interface ChecksumTarget {
  input: string;
  url: string;
  version: string;
  arch: Arch;
  /** The directory of the manifest, which a signed list's key file is relative to. */
  extensionDir?: string;
}

export interface ResolvedChecksum {
  sha256: string;
  /** As the lock records it: read from upstream (from a list whose signature verified), or computed from the download. */
  checksum: LockedInput['checksum'];
}

export function checksumKind(checksum: Input['checksum']): LockedInput['checksum'] {
  if (checksum.from === 'download') return 'computed';
  return checksum.from === 'signed-sha256sums' ? 'signed' : 'upstream';
}

/**
 * The sha256 to pin for one download. "file" and "sha256sums" read what upstream publishes;
 * "signed-sha256sums" reads a list only once its detached signature verifies against the manifest's
 * key file; "download" downloads the file into the cache and hashes it. Checksum URL templates are expanded
 * against the real upstream URL ({url}) before the whole is pointed at the configured site.
 */
export async function resolveChecksum(
  checksum: Input['checksum'],
  target: ChecksumTarget,
  ctx: UpstreamContext,
  fetchOptions: UnpinnedFetchOptions,
): Promise<ResolvedChecksum> {
  if (checksum.from === 'download') {
    const { sha256 } = await fetchUnpinned({ name: target.input, url: rewriteUrl(target.url, ctx.bases) }, fetchOptions);
    return { sha256, checksum: 'computed' };
  }
  const url = rewriteUrl(expandUrl(checksum.url, target.version, target.arch, { url: target.url }), ctx.bases);
  if (checksum.from === 'signed-sha256sums') {
    if (target.extensionDir === undefined) throw new UpstreamError(url, `${target.input}: a signed checksum list needs the extension's directory to find its key ${checksum.key}`);
    const signatureUrl = rewriteUrl(expandUrl(checksum.signature, target.version, target.arch, { url: target.url }), ctx.bases);
    // The signature covers bytes: the list is verified exactly as served, then read.
    const [list, signature] = [await getBytes(url, ctx.http), await getBytes(signatureUrl, ctx.http)];
    const keyFile = path.resolve(target.extensionDir, checksum.key);
    await verifySignedList({ bytes: list, url, signature, signatureUrl }, keyFile, path.relative(process.cwd(), keyFile));
    return { sha256: hashInSha256Sums(list.toString('utf8'), fileNameOf(target.url), url), checksum: 'signed' };
  }
  const { text } = await getText(url, ctx.http);
  const sha256 = checksum.from === 'file' ? hashInFile(text, url) : hashInSha256Sums(text, fileNameOf(target.url), url);
  return { sha256, checksum: 'upstream' };
}

/** A file holding one sha256, alone ("<hex>") or in sha256sum's format ("<hex>  name"). */
export function hashInFile(text: string, url: string): string {
  const hashes = [...new Set(text.match(/\b[0-9a-f]{64}\b/gi)?.map((hash) => hash.toLowerCase()))];
  if (hashes.length === 1) return hashes[0]!;
  throw new UpstreamError(
    url,
    hashes.length === 0 ? `${url} holds no sha256 (64 hexadecimal digits)` : `${url} holds ${hashes.length} different sha256s; for a list, use checksum: { from: 'sha256sums' }`,
  );
}

/** The sha256 a sha256sum-format list gives `fileName`: lines of "<hex>  name", or "<hex> *name" in binary mode. */
export function hashInSha256Sums(text: string, fileName: string, url: string): string {
  for (const line of text.split('\n')) {
    const [, hash, name] = /^([0-9a-f]{64}) [ *](.+)$/i.exec(line.trimEnd()) ?? [];
    if (hash !== undefined && name === fileName) return hash.toLowerCase();
  }
  throw new UpstreamError(url, `${url} lists no sha256 for ${fileName}`);
}

function fileNameOf(url: string): string {
  return path.posix.basename(decodeURIComponent(new URL(url).pathname));
}
