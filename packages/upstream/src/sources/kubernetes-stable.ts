import type { UpstreamContext } from '../context.js';
import { UpstreamError } from '../errors.js';
import { getText } from '../http.js';
import type { FoundVersion } from '../version-order.js';

/** The one version dl.k8s.io names as a line's latest patch (stable-1.34.txt holds "v1.34.2"), or the latest overall. */
export async function kubernetesStable(ctx: UpstreamContext, line: string | undefined): Promise<FoundVersion[]> {
  const url = `${ctx.bases.k8s}/release/${line === undefined ? 'stable' : `stable-${line}`}.txt`;
  const { text } = await getText(url, ctx.http);
  const version = /^v?(\d+\.\d+\.\d+\S*)$/.exec(text.trim())?.[1];
  if (version === undefined) throw new UpstreamError(url, `${url}: expected a version such as "v1.34.2", got "${text.trim().slice(0, 80)}"`);
  return [{ version, source: url }];
}
