import type { VersionSource } from '@bakehouse/schema';
import type { UpstreamContext } from './context.js';
import { dockerStaticIndex } from './sources/docker-static-index.js';
import { githubReleases } from './sources/github-releases.js';
import { kubernetesStable } from './sources/kubernetes-stable.js';
import { tailscalePkgs } from './sources/tailscale-pkgs.js';
import { orderVersions, type AvailableVersion, type FoundVersion, type VersionFilter } from './version-order.js';

/**
 * The versions a source offers, newest first. Pre-releases and drafts are left out unless asked
 * for; with a line, only that MAJOR.MINOR's versions (kubernetes-stable publishes just one per line).
 */
export async function listVersions(source: VersionSource, ctx: UpstreamContext, opts: VersionFilter = {}): Promise<AvailableVersion[]> {
  return orderVersions(await findVersions(source, ctx, opts.line), opts);
}

function findVersions(source: VersionSource, ctx: UpstreamContext, line: string | undefined): Promise<FoundVersion[]> {
  switch (source.type) {
    case 'github-releases':
      return githubReleases(source, ctx);
    case 'kubernetes-stable':
      return kubernetesStable(ctx, line);
    case 'docker-static-index':
      return dockerStaticIndex(source, ctx);
    case 'tailscale-pkgs':
      return tailscalePkgs(source, ctx);
  }
}
