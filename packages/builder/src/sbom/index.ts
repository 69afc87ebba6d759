export { createSbom, renderSbom, sbomFileName, inputPurl, debPurl, SPDX_MEDIA_TYPE, type SpdxDocument, type SbomFacts } from './spdx.js';
export { declaredLicense, type DeclaredLicense, type ExtractedLicense } from './dep5.js';
export { readCopyrights } from './copyright.js';
export { spdxValidator, validateSpdx, SpdxValidationError } from './validator.js';
