/** A payload cannot be made from these inputs (image size, key, name): the message says which and how to fix it. */
export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

/** The client-side checks, in the order ue-rs and update_engine run them. */
export const VERIFY_CHECKS = ['header', 'signature', 'extents', 'operations', 'image'] as const;
export type VerifyCheck = (typeof VERIFY_CHECKS)[number];

export interface VerifyFailure {
  check: VerifyCheck;
  message: string;
}

/**
 * A payload a Flatcar host would refuse. `failures` holds the first failing check (what the
 * client stops at) and, where the file still parses, what the later checks found, so the
 * message can say what broke: a changed blob, manifest field or signature.
 */
export class PayloadVerifyError extends Error {
  override readonly name = 'PayloadVerifyError';
  constructor(
    readonly file: string,
    readonly failures: readonly VerifyFailure[],
  ) {
    const [first, ...rest] = failures;
    super(
      `${file}: ${first ? `${first.check} check failed: ${first.message}` : 'verification failed'}` +
        rest.map((f) => `\n  also ${f.check}: ${f.message}`).join(''),
    );
  }
}

/** Mirroring stopped: a download, checksum or signature did not match. Nothing was written to the target. */
export class MirrorError extends Error {
  override readonly name = 'MirrorError';
}
