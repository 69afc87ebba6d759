import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseExtension, type ExtensionManifest } from '@bakehouse/schema';
import { REPO_ROOT } from '@bakehouse/fixtures';

/** An extension's manifest from the repository, with defaults filled in. */
export async function repoManifest(name: string): Promise<ExtensionManifest> {
  const file = path.join(REPO_ROOT, 'extensions', name, 'extension.ts');
  // Vitest compiles TypeScript on import, so the manifest loads as the CLI would load it.
  const module = (await import(file)) as { default: unknown };
  return parseExtension(module.default, file);
}

/** The Flatcar release in the repository's flatcar.json. */
export async function repoFlatcarVersion(): Promise<string> {
  return (JSON.parse(await readFile(path.join(REPO_ROOT, 'flatcar.json'), 'utf8')) as { version: string }).version;
}
