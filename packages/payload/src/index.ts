export { buildPayload, type BuildPayloadOptions } from './build.js';
export { verifyPayload, type VerifiedPayload } from './verify.js';
export { readSigningKey, readPublicKey } from './keys.js';
export { checkPayloadName, payloadFileName, PAYLOAD_NAME_PATTERN, PAYLOAD_SUFFIX, type ExtensionReleaseInfo } from './naming.js';
export { describeFile, directoryUrl, nebraskaPackage, nebraskaArch, omahaResponse, FLATCAR_APP_ID, OS_PAYLOAD_NAME, BOARDS, type DescribedFile, type ReleaseFiles } from './nebraska.js';
export { decodeManifest, OPERATION_TYPE, BLOCK_SIZE, CHUNK_SIZE, HEADER_SIZE, SIGNATURE_ENTRY_BYTES, type Manifest, type InstallOperation } from './format.js';
export { PayloadError, PayloadVerifyError, MirrorError, VERIFY_CHECKS, type VerifyCheck, type VerifyFailure } from './errors.js';
export { writeFileAtomically } from './atomic.js';
export { mirrorFlatcar, FLATCAR_UPDATE_SERVER, MIRROR_RECORD, MIRROR_NEBRASKA_FILE, MIRROR_OMAHA_FILE, type MirrorOptions, type MirrorResult, type MirrorRecord, type MirrorRecordEntry } from './mirror.js';
