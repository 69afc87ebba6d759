import { UpstreamSettingError } from './errors.js';
import type { HttpSettings } from './http.js';

/** Each channel has its own host, so the base is a template: {channel} is replaced by the channel asked for. */
export const DEFAULT_FLATCAR_BASE = 'https://{channel}.release.flatcar-linux.net';
const ENV_NAME = 'BAKEHOUSE_UPSTREAM_FLATCAR';
const FLAG = /^flatcar=(.+)$/;

/** Where Flatcar releases are published, and how to ask. */
export interface FlatcarContext {
  /** A base URL template, e.g. http://127.0.0.1:PORT/{channel} for a test server. */
  flatcarBase: string;
  http?: HttpSettings;
}

/**
 * The default template, overridden by BAKEHOUSE_UPSTREAM_FLATCAR, then by `--upstream flatcar=URL`.
 * Kept apart from bases.ts because those bases are fixed hosts that rewriteUrl() maps, while this
 * one is a template; any other --upstream NAME is refused, since `bakehouse flatcar` reaches no other site.
 */
export function flatcarContext(env: NodeJS.ProcessEnv = process.env, upstreamFlags: readonly string[] = []): FlatcarContext {
  let flatcarBase = env[ENV_NAME] ? checkedTemplate(env[ENV_NAME], ENV_NAME) : DEFAULT_FLATCAR_BASE;
  for (const flag of upstreamFlags) {
    const [, value] = FLAG.exec(flag) ?? [];
    if (value === undefined) throw new UpstreamSettingError(`--upstream ${flag}: expected flatcar=URL (the only site Flatcar releases come from)`);
    flatcarBase = checkedTemplate(value, `--upstream ${flag}`);
  }
  return { flatcarBase };
}

function checkedTemplate(value: string, origin: string): string {
  if (!/^https?:\/\/[^/]/.test(value)) throw new UpstreamSettingError(`${origin}: expected an http(s) base URL, got "${value}"`);
  return value.replace(/\/+$/, '');
}

export function flatcarChannelBase(template: string, channel: string): string {
  return template.replaceAll('{channel}', channel);
}
