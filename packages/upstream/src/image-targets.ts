import { Version, type ExtensionLock, type ExtensionManifest, type LockedImage } from '@bakehouse/schema';
import { imageCandidates, type VersionLister } from './candidates.js';
import { BumpError } from './errors.js';
import { isOlder } from './version-order.js';

/** An image version to lock. */
export interface ImageTarget {
  line?: string;
  version: string;
  /** The old lock's image, whose input versions stay as they are: a line that `bump --to` leaves alone. */
  frozen?: LockedImage;
}

/**
 * The image versions a bump locks: the upstream's newest (per line, for extensions with lines),
 * or `to`. With lines (the manifest's, or those its lineSource gave), `to` moves only its own line;
 * the others keep their locked versions.
 */
export async function imageTargets(
  manifest: ExtensionManifest,
  lines: readonly string[] | undefined,
  oldLock: ExtensionLock | undefined,
  to: string | undefined,
  list: VersionLister,
): Promise<ImageTarget[]> {
  if (to !== undefined) checkVersion(to);
  const oldVersion = (line?: string) => oldLock?.images.find((image) => image.line === line)?.version;
  if (!lines) return [{ version: to ?? (await newestImageVersion(manifest, undefined, oldVersion(), list)) }];

  const toLine = to === undefined ? undefined : lineOf(manifest, lines, to);
  const targets: ImageTarget[] = [];
  for (const line of lines) {
    const frozen = toLine === undefined || line === toLine ? undefined : oldLock?.images.find((image) => image.line === line);
    if (line === toLine) targets.push({ line, version: to! });
    else if (frozen) targets.push({ line, version: frozen.version, frozen });
    else targets.push({ line, version: await newestImageVersion(manifest, line, oldVersion(line), list) });
  }
  return targets;
}

async function newestImageVersion(manifest: ExtensionManifest, line: string | undefined, locked: string | undefined, list: VersionLister): Promise<string> {
  const forLine = line === undefined ? '' : ` for line ${line}`;
  if (!manifest.upstream) throw new BumpError(`${manifest.name} has no "upstream" to take versions from: name the version${forLine} with bump --to VERSION`);
  const [newest] = await imageCandidates(manifest, line, list);
  if (!newest) throw new BumpError(`${manifest.name}: its upstream (${manifest.upstream.type}) offers no release${forLine}`);
  // A newest release older than the lock's means a stale mirror or a withdrawn release: going back takes a deliberate --to.
  if (locked !== undefined && isOlder(newest.version, locked))
    throw new BumpError(`${manifest.name}: the newest release${forLine} upstream offers is ${newest.version}, older than the locked ${locked}; to go back, bump --to ${newest.version}`);
  return newest.version;
}

function checkVersion(to: string): void {
  const result = Version.safeParse(to);
  if (!result.success) throw new BumpError(`--to ${to}: expected ${result.error.issues[0]?.message}`);
}

function lineOf(manifest: ExtensionManifest, lines: readonly string[], to: string): string {
  const line = lines.find((l) => to.startsWith(`${l}.`));
  if (line === undefined) throw new BumpError(`--to ${to} is in none of ${manifest.name}'s lines (${lines.join(', ')})`);
  return line;
}
