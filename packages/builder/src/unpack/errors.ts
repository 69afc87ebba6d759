/** Which input and which downloaded file an error is about, so messages can name both. */
export interface ArchiveContext {
  input: string;
  /** File name of the download, e.g. containerd-2.1.4-linux-amd64.tar.gz */
  archive: string;
}

/** The archive itself is hostile or ambiguous; no manifest change can make it safe to unpack. */
export class UnsafeArchiveError extends Error {
  override readonly name = 'UnsafeArchiveError';
  readonly input: string;
  /** The offending path as stored in the archive. */
  readonly entry: string;

  constructor(context: ArchiveContext, entry: string, reason: string) {
    super(`input "${context.input}": refusing ${context.archive}: entry ${JSON.stringify(entry)} ${reason}`);
    this.input = context.input;
    this.entry = entry;
  }
}

/** The archive could not be unpacked as the manifest asks: a rule matched nothing, a size limit was hit, and so on. */
export class ExtractError extends Error {
  override readonly name = 'ExtractError';
  readonly input: string;

  constructor(context: ArchiveContext, detail: string, options?: ErrorOptions) {
    super(`input "${context.input}": ${detail}`, options);
    this.input = context.input;
  }
}
