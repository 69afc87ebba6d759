import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildExtension, defaultCacheDir, type SigningKey } from '@bakehouse/builder';
import { parseExtension, type Arch, type ExtensionInput, type ExtensionLock, type ExtensionManifest, type SourceOverrides } from '@bakehouse/schema';
import type { PublishExtension } from '../images.js';

export interface TinyExtension {
  name: string;
  lines?: string[];
  arch?: Arch[];
  conflicts?: ExtensionInput['conflicts'];
  requires?: ExtensionInput['requires'];
  /** Builds signed DDIs with this key and certificate. */
  signing?: SigningKey;
  /** One "file" input installed as /usr/bin/tool: its URL template and the sha256 the lock pins for it (every arch). */
  input?: { url: string; version: string; sha256: string };
  /** Pinned to one Flatcar release (release.compat "release"), built for this one. */
  flatcarVersion?: string;
  /** Source overrides for the build, as bakehouse build --sources takes them. */
  sources?: SourceOverrides;
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
      ...(spec.input ? { inputs: [{ name: 'tool', kind: 'file', url: spec.input.url, extract: [{ to: '/usr/bin/tool', mode: 0o755 }] }] } : {}),
      ...(spec.flatcarVersion ? { release: { compat: 'release' } } : {}),
    },
    `${spec.name}/extension.ts`,
  );
  await mkdir(path.join(dir, 'files/usr/share', spec.name), { recursive: true });
  await writeFile(path.join(dir, 'files/usr/share', spec.name, 'content.txt'), `${spec.name} ${content}\n`);
  const pins: ExtensionLock['images'][number]['inputs'] = spec.input
    ? { tool: { version: spec.input.version, sha256: Object.fromEntries(manifest.arch.map((a) => [a, spec.input!.sha256])), checksum: 'computed' } }
    : {};
  const lock: ExtensionLock = { lockVersion: 1, images: images.map((i) => ({ ...i, inputs: pins })) };
  await buildExtension(manifest, lock, dir, {
    arches: manifest.arch,
    // Signed builds run systemd-repart from the DDI tools root, cached with the user's downloads (built once).
    fetch: { cacheDir: spec.signing ? defaultCacheDir() : path.join(root, '.cache'), offline: !spec.input },
    ...(spec.signing ? { signing: spec.signing } : {}),
    sourceDateEpoch: 0,
    ...(spec.flatcarVersion ? { flatcarVersion: spec.flatcarVersion } : {}),
    ...(spec.sources ? { sources: spec.sources } : {}),
  });
  return { manifest, lock, distDir: path.join(dir, 'dist') };
}
