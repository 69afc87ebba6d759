import { Extension, type ExtensionInput, type ExtensionManifest } from './manifest.js';
import { ManifestError } from './errors.js';

/**
 * Declares an extension. It only types the object: validation happens when a tool loads the
 * manifest, so the error can name the file it came from.
 */
export function defineExtension<const T extends ExtensionInput>(manifest: T): T {
  return manifest;
}

/** Validates raw manifest data, filling in defaults. Throws ManifestError naming `file` and each bad field. */
export function parseExtension(data: unknown, file: string): ExtensionManifest {
  const result = Extension.safeParse(data);
  if (!result.success) throw ManifestError.fromZod(file, result.error);
  return result.data;
}
