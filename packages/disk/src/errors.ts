/** A bake refused or failed; the message names the disk, partition or image and what to do. Nothing was written. */
export class BakeError extends Error {
  override readonly name = 'BakeError';
}
