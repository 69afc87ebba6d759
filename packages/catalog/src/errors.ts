/** A problem with the release tree or index.json the catalog is rendered from; the message names the file and the fix. */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
}
