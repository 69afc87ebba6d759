import type { VersionSource } from '@bakehouse/schema';
import type { UpstreamContext } from '../context.js';
import { getText } from '../http.js';
import type { FoundVersion } from '../version-order.js';

type DockerStaticIndexSource = Extract<VersionSource, { type: 'docker-static-index' }>;

/**
 * The docker-VERSION.tgz bundles in download.docker.com's directory listing of a channel. Every
 * arch gets the same releases, so the x86_64 listing speaks for all; the digit after "docker-"
 * leaves out docker-rootless-extras-VERSION.tgz.
 */
export async function dockerStaticIndex(source: DockerStaticIndexSource, ctx: UpstreamContext): Promise<FoundVersion[]> {
  const url = `${ctx.bases.docker}/linux/static/${source.channel}/x86_64/`;
  const { text } = await getText(url, ctx.http);
  return [...text.matchAll(/href="docker-(\d[^"/]*)\.tgz"/g)].map((match) => ({ version: match[1]!, source: url }));
}
