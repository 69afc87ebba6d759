/** A Torcx image that cannot be converted as given; the message names the archive and what to change. */
export class TorcxError extends Error {
  override readonly name = 'TorcxError';
}
