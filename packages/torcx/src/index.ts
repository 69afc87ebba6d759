export { convertTorcx, lintExtension, type ConvertOptions } from './convert.js';
export { TorcxError } from './errors.js';
export { extensionName, imageVersionOf, parseTorcxFileName, type TorcxImageName } from './image-name.js';
export { extensionLock, extensionSource, type ManifestOptions } from './manifest.js';
export { planConversion, type ArchiveItem, type ConversionOptions, type ConversionPlan, type ConversionReport, type EnableDeclaration, type PlannedEntry, type TorcxInventory } from './plan.js';
export { readTorcxImage } from './read.js';
export { formatReport } from './report.js';
export { rewriteUnit, type UnitRewrite } from './units.js';
