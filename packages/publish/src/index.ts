export { publishTree, retain, DEFAULT_KEEP, PUBLIC_KEY_ASC, PUBLIC_KEYRING, SHA256SUMS, type PublishOptions, type PublishResult } from './tree.js';
export { collectBuiltImages, type PublishExtension, type BuiltImageFile } from './images.js';
export { verifyReleaseTree, type VerifyOptions, type VerifyReport } from './verify.js';
export { createSigningKey, exportPublicKey, openSigner, checkSignature, SIGNING_KEY_ENV, type KeyAlgorithm, type Signer, type SignerOptions } from './gpg.js';
export { renderTransfer, matchPattern, transferName, HOST_INSTANCES_MAX } from './sysupdate.js';
export { renderButane, renderIgnition, HOST_PUBRING, type ProvisioningInput } from './ignition.js';
export { compareVersions } from './version.js';
export { PublishError, SigningError, VerificationError, RegistryError } from './errors.js';
export { pushImage, pullImage, parseReference, SYSEXT_ARTIFACT_TYPE, SYSEXT_LAYER_PREFIX, ANNOTATION, type RegistryOptions, type PushedArtifact } from './oci.js';
