/** Publishing failed for a reason the message explains, with the fix. */
export class PublishError extends Error {
  override readonly name = 'PublishError';
}

/** gpg could not create, import, export or use a key. */
export class SigningError extends Error {
  override readonly name = 'SigningError';
}

/** A release tree, or an image pulled from a registry, does not match its checksums or signatures. */
export class VerificationError extends Error {
  override readonly name = 'VerificationError';
}

/** The OCI registry refused a request or answered something unexpected. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
}
