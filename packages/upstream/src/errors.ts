/** An upstream site answered with something unusable: an HTTP error, or a page not in the expected format. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    /** What was requested. */
    readonly url: string,
    message: string,
    /** The HTTP status, when the server answered with an error. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** A bump that cannot be done as asked: a bad --to, or no upstream version that fits. */
export class BumpError extends Error {
  override readonly name = 'BumpError';
}

/** A BAKEHOUSE_UPSTREAM_* variable or --upstream flag that is not NAME=URL for a known site. */
export class UpstreamSettingError extends Error {
  override readonly name = 'UpstreamSettingError';
}
