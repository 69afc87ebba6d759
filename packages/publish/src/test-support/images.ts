import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildExtension, defaultCacheDir, type SigningKey } from '@bakehouse/builder';
import { parseExtension, type Arch, type ExtensionInput, type ExtensionManifest } from '@bakehouse/schema';
import type { PublishExtension } from '../images.js';

export interface TinyExtension {
  name: string;
  lines?: string[];
  arch?: Arch[];
  conflicts?: ExtensionInput['conflicts'];
  requires?: ExtensionInput['requires'];
  /** Builds signed DDIs with this key and certificate. */
  signing?: SigningKey;
}

/**
 * Builds real squashfs images (or, with `signing`, signed DDIs) of a files-only extension with the real builder: fast, yet the
 * same BuildRecords and .raw files a real extension's dist/ holds. `content` changes the image
 * without changing its version (a packaging change).
 */
export async function buildTinyExtension(root: string, spec: TinyExtension, images: { version: string; line?: string }[], content = 'v1'): Promise<PublishExtension> {
  const dir = path.join(root, spec.name);
  const manifest: ExtensionManifest = parseExtension(
    {
      name: spec.name,
      description: `${spec.name} for tests`,
      homepage: 'https://example.org',
      arch: spec.arch ?? ['x86-64'],
      ...(spec.lines ? { lines: spec.lines } : {}),
      ...(spec.conflicts ? { conflicts: spec.conflicts } : {}),
      ...(spec.requires ? { requires: spec.requires } : {}),
    },
    `${spec.name}/extension.ts`,
  );
  await mkdir(path.join(dir, 'files/usr/share', spec.name), { recursive: true });
  await writeFile(path.join(dir, 'files/usr/share', spec.name, 'content.txt'), `${spec.name} ${content}\n`);
  await buildExtension(manifest, { lockVersion: 1, images: images.map((i) => ({ ...i, inputs: {} })) }, dir, {
    arches: manifest.arch,
    // Signed builds run systemd-repart from the DDI tools root, cached with the user's downloads (built once).
    fetch: { cacheDir: spec.signing ? defaultCacheDir() : path.join(root, '.cache'), offline: true },
    ...(spec.signing ? { signing: spec.signing } : {}),
    sourceDateEpoch: 0,
  });
  return { manifest, distDir: path.join(dir, 'dist') };
}
