export { writeCatalog, readCatalogAssets, type WriteCatalogOptions } from './write.js';
export { renderCatalog, ASSETS_DIR, type CatalogAssets, type CatalogInput } from './render.js';
export { CatalogError } from './errors.js';
