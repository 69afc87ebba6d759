import type { UnpinnedFetchOptions } from '@bakehouse/builder';
import type { ExtensionManifest, Input, LockedImage, LockedInput } from '@bakehouse/schema';
import { inputCandidates, type VersionLister } from './candidates.js';
import { checksumKind } from './checksum.js';
import type { UpstreamContext } from './context.js';
import { BumpError } from './errors.js';
import type { ImageTarget } from './image-targets.js';
import { pinInput } from './pin-input.js';
import { minorBound } from './minor-bound.js';
import { isOlder, satisfiesRange } from './version-order.js';

export interface LockImageDeps {
  ctx: UpstreamContext;
  fetch: UnpinnedFetchOptions;
  list: VersionLister;
  /** The manifest's directory: where a signed checksum list's key file is. */
  extensionDir?: string;
}

/**
 * Locks one image version: each input at its version (its own upstream's newest in range, else the
 * image's), pinned for every arch. A pin the old image already holds for the same version and
 * checksum source is kept, not fetched again: pins are trusted once recorded, and a bump that
 * changes nothing costs no downloads.
 */
export async function lockImage(manifest: ExtensionManifest, target: ImageTarget, oldImage: LockedImage | undefined, deps: LockImageDeps): Promise<LockedImage> {
  const inputs: Record<string, LockedInput> = {};
  for (const input of manifest.inputs) {
    const version = target.frozen?.inputs[input.name]?.version ?? (await inputVersion(manifest, input, target, oldImage, deps));
    inputs[input.name] = keptPin(manifest, input, version, oldImage) ?? (await pinInput(input, version, manifest.arch, deps.ctx, deps.fetch, deps.extensionDir));
  }
  return { ...(target.line === undefined ? {} : { line: target.line }), version: target.version, inputs };
}

async function inputVersion(manifest: ExtensionManifest, input: Input, target: ImageTarget, oldImage: LockedImage | undefined, deps: LockImageDeps): Promise<string> {
  if (!input.versionFrom) return target.version;
  const bound = await minorBound(manifest, input, target.version, deps.ctx);
  const candidates = await inputCandidates(manifest, input, target.line, deps.list);
  const [newest] = bound ? candidates.filter((v) => satisfiesRange(v.version, bound.range)) : candidates;
  const range =
    (input.versionFrom.range === undefined ? '' : ` in range "${input.versionFrom.range}"`) +
    (bound ? ` within ${bound.range} (${manifest.name} ${target.version} names ${bound.named})` : '');
  const forLine = target.line === undefined ? '' : ` for line ${target.line}`;
  if (!newest) throw new BumpError(`${manifest.name}: input "${input.name}" has no release${range}${forLine} (${input.versionFrom.source.type})`);
  const locked = oldImage?.inputs[input.name]?.version;
  // As for images: an input does not go back on its own; narrowing its range says to. An image
  // version that names an older minor (bump --to an older release) says so too.
  if (locked !== undefined && isOlder(newest.version, locked) && (!bound || satisfiesRange(locked, bound.range)))
    throw new BumpError(
      `${manifest.name}: the newest release of input "${input.name}"${range}${forLine} is ${newest.version}, older than the locked ${locked}; to go back, narrow its versionFrom.range`,
    );
  return newest.version;
}

function keptPin(manifest: ExtensionManifest, input: Input, version: string, oldImage: LockedImage | undefined): LockedInput | undefined {
  const old = oldImage?.inputs[input.name];
  if (old?.version !== version || old.checksum !== checksumKind(input.checksum)) return undefined;
  if (manifest.arch.some((arch) => old.sha256[arch] === undefined)) return undefined;
  // Only the arches the manifest still lists.
  return { version, sha256: Object.fromEntries(manifest.arch.map((arch) => [arch, old.sha256[arch]])), checksum: old.checksum };
}
