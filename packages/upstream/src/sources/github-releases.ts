import type { VersionSource } from '@bakehouse/schema';
import { z } from 'zod';
import { rewriteUrl } from '../bases.js';
import type { UpstreamContext } from '../context.js';
import { UpstreamError } from '../errors.js';
import { getText } from '../http.js';
import type { FoundVersion } from '../version-order.js';

type GithubReleasesSource = Extract<VersionSource, { type: 'github-releases' }>;

/** The fields of GitHub's release objects that matter here; the API sends many more. */
const Releases = z.array(z.object({ tag_name: z.string(), draft: z.boolean(), prerelease: z.boolean() }));

/** A repository with thousands of releases is unheard of; a Link header that never ends is a broken server. */
const MAX_PAGES = 50;

/** Every published release of OWNER/REPO, from GET /repos/OWNER/REPO/releases, following the Link header's rel="next". */
export async function githubReleases(source: GithubReleasesSource, ctx: UpstreamContext): Promise<FoundVersion[]> {
  const found: FoundVersion[] = [];
  let url: string | undefined = `${ctx.bases.githubApi}/repos/${source.repo}/releases?per_page=100`;
  for (let page = 1; url !== undefined; page++) {
    if (page > MAX_PAGES) throw new UpstreamError(url, `${source.repo}: GitHub's release list goes on past ${MAX_PAGES} pages (next: ${url})`);
    const response = await getText(url, ctx.http, githubHeaders(ctx)).catch((error: unknown) => {
      throw withTokenHint(error, ctx);
    });
    const releases = Releases.safeParse(parseJson(response.text));
    if (!releases.success) throw new UpstreamError(url, `${url}: expected GitHub's JSON list of releases`);
    for (const release of releases.data)
      // Drafts are unpublished, and tags without the prefix belong to something else (e.g. "api/v0.1" in a monorepo).
      if (!release.draft && release.tag_name.startsWith(source.tagPrefix))
        found.push({ version: release.tag_name.slice(source.tagPrefix.length), source: `github:${source.repo}`, prerelease: release.prerelease });
    const next = nextLink(response.headers.get('link'));
    url = next === undefined ? undefined : rewriteUrl(next, ctx.bases);
  }
  return found;
}

function githubHeaders(ctx: UpstreamContext): Record<string, string> {
  return {
    accept: 'application/vnd.github+json',
    'x-github-api-version': '2022-11-28',
    ...(ctx.githubToken ? { authorization: `Bearer ${ctx.githubToken}` } : {}),
  };
}

/** The rel="next" target of a Link header: `<https://…&page=2>; rel="next", <https://…&page=9>; rel="last"`. */
function nextLink(header: string | null): string | undefined {
  return header?.split(',').map((part) => /<([^>]+)>\s*;\s*rel="next"/.exec(part)?.[1]).find((url) => url !== undefined);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** GitHub answers 401/403/429 to bad tokens and exhausted rate limits; say which setting decides that. */
function withTokenHint(error: unknown, ctx: UpstreamContext): unknown {
  if (!(error instanceof UpstreamError) || ![401, 403, 429].includes(error.status ?? 0)) return error;
  const hint = ctx.githubToken
    ? 'GitHub refused the token in GITHUB_TOKEN, or its rate limit is used up.'
    : 'GitHub allows 60 API requests an hour without a token: set GITHUB_TOKEN.';
  return new UpstreamError(error.url, `${error.message}\n${hint}`, error.status);
}
