/** A test that cannot run as asked (no image built, a bad file path); the message says what to do. */
export class BootTestError extends Error {
  override readonly name = 'BootTestError';
}
