export {
  ARCHES,
  EXTENSION_CATEGORIES,
  type ExtensionCategory,
  FLATCAR_BUILTIN_PATTERN,
  FLATCAR_PAYLOAD_NAME_PATTERN,
  ARCHIVE_KINDS,
  IMAGE_FORMATS,
  Arch,
  Extension,
  Version,
  VersionSource,
  type ArchiveKind,
  type BaseOverride,
  type DebianClosure,
  type ExtensionInput,
  type ExtensionManifest,
  type ExtractRule,
  type ImageFormat,
  type Input,
  type Requirement,
  type UnitSections,
} from './manifest.js';
export { defineExtension, parseExtension } from './define.js';
export { ManifestError, formatFieldPath, type FieldProblem } from './errors.js';
export { extensionJsonSchema } from './json-schema.js';
export { SourceOverrides, parseSourceOverrides } from './sources.js';
export { ExtensionLock, LOCK_FILE, REVISION_MARKER, imageVersion, parseLock, parseLockStructure, withLockedLines, type LockedDeb, type LockedImage, type LockedInput, type RetiredLine } from './lock.js';
export { TestRecord, TEST_RECORD_SUFFIX, parseTestRecord } from './test-record.js';
export { ReleaseIndex, RELEASE_INDEX_FILE, parseReleaseIndex, type ReleaseIndexImage, type ReleaseIndexSnippet, type ReleaseIndexVerityCertificate } from './release-index.js';
