import { defaultCacheDir } from '@bakehouse/builder';
import {
  FLATCAR_FILE,
  fetchFlatcarContents,
  parseFlatcarRelease,
  flatcarContext,
  readFlatcarRelease,
  resolveLatestFlatcar,
  writeFlatcarRelease,
  type FlatcarBoard,
  type FlatcarChannel,
  type FlatcarRelease,
} from '@bakehouse/upstream';
import { findWorkspaceRoot, WorkspaceError } from '../workspace.js';

export interface FlatcarLatestFlags {
  channel?: string;
  board?: string;
  write?: boolean;
  upstream: string[];
}

/** The channel's current Flatcar release; with --write, flatcar.json moves to it. */
export async function runFlatcarLatest(flags: FlatcarLatestFlags): Promise<void> {
  const root = await findWorkspaceRoot();
  const current = await readFlatcarRelease(root);
  // resolveLatestFlatcar rejects an unknown channel or board with the list of valid ones.
  const channel = (flags.channel ?? current?.channel ?? 'stable') as FlatcarChannel;
  const board = (flags.board ?? current?.board ?? 'amd64-usr') as FlatcarBoard;
  const latest = await resolveLatestFlatcar({ channel, board }, flatcarContext(process.env, flags.upstream));
  process.stdout.write(`${latest.version}${latest.buildId ? ` (build ${latest.buildId})` : ''}\n  from ${latest.url}\n`);
  if (!flags.write) return;
  const next: FlatcarRelease = { channel, version: latest.version, board };
  const changes = describeChanges(current, next);
  if (changes.length === 0) {
    process.stdout.write(`${FLATCAR_FILE}: already ${next.version}\n`);
    return;
  }
  await writeFlatcarRelease(root, next);
  process.stdout.write(`${FLATCAR_FILE}: ${changes.join(', ')}\n`);
}

/** The workspace's flatcar.json, validated. */
export async function runFlatcarShow(): Promise<void> {
  const release = await readFlatcarRelease(await findWorkspaceRoot());
  if (!release) throw new WorkspaceError(`${FLATCAR_FILE} is missing: run bakehouse flatcar latest --write to create it`);
  process.stdout.write(`channel  ${release.channel}\nversion  ${release.version}\nboard    ${release.board}\n`);
}

function describeChanges(current: FlatcarRelease | undefined, next: FlatcarRelease): string[] {
  if (!current) return [`created with ${next.channel} ${next.version} (${next.board})`];
  return (['channel', 'version', 'board'] as const).filter((key) => current[key] !== next[key]).map((key) => `${key} ${current[key]} → ${next[key]}`);
}

export interface FlatcarContentsFlags {
  version?: string;
  channel?: string;
  board?: string;
  upstream: string[];
  cacheDir?: string;
}

/** Fetches the release's image contents list into the cache, where `bakehouse lint` finds it. */
export async function runFlatcarContents(flags: FlatcarContentsFlags): Promise<void> {
  const current = await readFlatcarRelease(await findWorkspaceRoot());
  const release = parseFlatcarRelease(
    { channel: flags.channel ?? current?.channel ?? 'stable', version: flags.version ?? current?.version, board: flags.board ?? current?.board ?? 'amd64-usr' },
    flags.version ? '--version/--channel/--board' : FLATCAR_FILE,
  );
  const { contents, source, file } = await fetchFlatcarContents(release, flatcarContext(process.env, flags.upstream), flags.cacheDir ?? defaultCacheDir());
  const under = (prefix: string) => [...contents.keys()].filter((p) => p.startsWith(prefix)).length;
  process.stdout.write(`Flatcar ${release.version} (${release.board}): ${under('/usr/')} paths under /usr\n  from ${source}\n  cached in ${file}\n`);
}
