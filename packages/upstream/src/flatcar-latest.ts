import { UpstreamError, UpstreamSettingError } from './errors.js';
import { flatcarChannelBase, type FlatcarContext } from './flatcar-base.js';
import { FLATCAR_BOARDS, FLATCAR_CHANNELS, FLATCAR_VERSION_PATTERN, type FlatcarBoard, type FlatcarChannel } from './flatcar-release.js';
import { getText } from './http.js';

export interface FlatcarTarget {
  channel: FlatcarChannel;
  board: FlatcarBoard;
}

export interface LatestFlatcar {
  version: string;
  /** FLATCAR_BUILD_ID, when the release names one. */
  buildId?: string;
  /** The version.txt the answer was read from. */
  url: string;
}

/** The channel's current release for a board, read from its version.txt. */
export async function resolveLatestFlatcar(target: FlatcarTarget, ctx: FlatcarContext): Promise<LatestFlatcar> {
  // Checked here as well as by the types: channel and board arrive from flags and files.
  if (!FLATCAR_CHANNELS.includes(target.channel)) throw new UpstreamSettingError(`unknown Flatcar channel "${target.channel}": expected one of ${FLATCAR_CHANNELS.join(', ')}`);
  if (!FLATCAR_BOARDS.includes(target.board)) throw new UpstreamSettingError(`unknown Flatcar board "${target.board}": expected one of ${FLATCAR_BOARDS.join(', ')}`);
  const url = `${flatcarChannelBase(ctx.flatcarBase, target.channel)}/${target.board}/current/version.txt`;
  const fields = parseShellAssignments((await getText(url, ctx.http)).text);
  const version = fields.FLATCAR_VERSION;
  if (version === undefined) throw new UpstreamError(url, `${url}: no FLATCAR_VERSION in this version.txt`);
  if (!FLATCAR_VERSION_PATTERN.test(version)) throw new UpstreamError(url, `${url}: FLATCAR_VERSION "${version}" is not a Flatcar version such as 4230.2.1`);
  return { version, ...(fields.FLATCAR_BUILD_ID ? { buildId: fields.FLATCAR_BUILD_ID } : {}), url };
}

/** Reads KEY=value lines, as version.txt is meant to be sourced by a shell; surrounding quotes are dropped. */
function parseShellAssignments(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const [, key, value] = /^\s*([A-Za-z_]\w*)=(.*?)\s*$/.exec(line) ?? [];
    if (key !== undefined && value !== undefined) fields[key] = value.replace(/^(["'])(.*)\1$/, '$2');
  }
  return fields;
}
