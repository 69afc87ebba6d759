export { bakeDisk, type BakeRequest, type BakeImageRequest, type BakeSummary } from './bake.js';
export { BakeError } from './errors.js';
export { readFlatcarLayout, FLATCAR_PARTITION_TYPES, type FlatcarLayout } from './layout.js';
export { detectDiskFormat, ACCEPTED_FORMATS, type DiskFormat } from './input.js';
export { planBake, BOARD_ARCH, type Placement, type Write } from './plan.js';
export { readExtensionImage, type ExtensionImage } from './images.js';
