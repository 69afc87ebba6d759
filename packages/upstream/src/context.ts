import { resolveBases, type UpstreamBases } from './bases.js';
import type { HttpSettings } from './http.js';

/** Everything a request to an upstream site needs: where each site is, and how to ask. */
export interface UpstreamContext {
  bases: UpstreamBases;
  /** Sent to the GitHub API, which allows only 60 requests an hour without one. */
  githubToken?: string;
  http?: HttpSettings;
}

/** The context the environment describes (BAKEHOUSE_UPSTREAM_*, GITHUB_TOKEN), with `--upstream NAME=URL` flags on top. */
export function upstreamContext(env: NodeJS.ProcessEnv = process.env, upstreamFlags: readonly string[] = []): UpstreamContext {
  return { bases: resolveBases(env, upstreamFlags), ...(env.GITHUB_TOKEN ? { githubToken: env.GITHUB_TOKEN } : {}) };
}
