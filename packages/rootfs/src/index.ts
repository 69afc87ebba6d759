export { ensureRoot, RootBuildError, type EnsureOptions } from './ensure.js';
export { defaultCacheDir, DEFAULT_MIRROR, hostDebianArch, normalizeSpec, rootKey, rootPath, ROOTFS_FORMAT, RootSpecError, type RootSpec } from './spec.js';
