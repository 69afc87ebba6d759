/**
 * apt could not resolve a closure: the message names the packages or the index that failed,
 * quotes apt, and says what to check, so the CLI can print it without a stack.
 */
export class ClosureResolutionError extends Error {
  override readonly name = 'ClosureResolutionError';
}

/** A .deb could not be unpacked; the message names the file and quotes dpkg-deb. */
export class DebExtractionError extends Error {
  override readonly name = 'DebExtractionError';
  constructor(
    readonly debFile: string,
    message: string,
  ) {
    super(message);
  }
}

/** A closure cannot be made self-contained; the message names the file and what is wrong with it. */
export class RelocationError extends Error {
  override readonly name = 'RelocationError';
}
