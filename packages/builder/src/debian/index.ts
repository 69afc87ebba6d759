export { resolveClosure, type ResolveOptions } from './resolve.js';
export { extractDebs } from './extract.js';
export { listDebPaths, type DebPath } from './list.js';
export { relocateClosure, type RelocationReport } from './relocate.js';
export { DEFAULT_MIRROR, type DebianSource } from './source.js';
export { DEBIAN_ARCH, type DebianArch } from './arch.js';
export { ClosureResolutionError, DebExtractionError, RelocationError } from './errors.js';
export { debianImageVersion } from './image-version.js';
