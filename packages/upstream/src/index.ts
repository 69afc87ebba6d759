export { DEFAULT_BASES, resolveBases, rewriteUrl, type UpstreamBases, type UpstreamName } from './bases.js';
export { upstreamContext, type UpstreamContext } from './context.js';
export type { HttpSettings } from './http.js';
export { BumpError, UpstreamError, UpstreamSettingError } from './errors.js';
export { listVersions } from './list-versions.js';
export type { AvailableVersion, VersionFilter } from './version-order.js';
export { availableVersions, type InputVersion } from './available-versions.js';
export { resolveChecksum, hashInFile, hashInSha256Sums, type ChecksumTarget, type ResolvedChecksum } from './checksum.js';
export { bump, type BumpOptions, type BumpResult } from './bump.js';
export { revise, type ReviseOptions } from './revise.js';
export { describeChanges, type BumpChange } from './lock-changes.js';
export { writeBump, type BumpPaths } from './write-bump.js';
export {
  FLATCAR_BOARDS,
  FLATCAR_CHANNELS,
  FLATCAR_FILE,
  FlatcarReleaseError,
  parseFlatcarRelease,
  readFlatcarRelease,
  writeFlatcarRelease,
  type FlatcarBoard,
  type FlatcarChannel,
  type FlatcarRelease,
} from './flatcar-release.js';
export { DEFAULT_FLATCAR_BASE, flatcarContext, type FlatcarContext } from './flatcar-base.js';
export { resolveLatestFlatcar, type FlatcarTarget, type LatestFlatcar } from './flatcar-latest.js';
export { CONTENTS_FILE, cachedFlatcarContents, fetchFlatcarContents, flatcarContentsCacheFile, flatcarContentsUrl, type FlatcarContents } from './flatcar-contents.js';
