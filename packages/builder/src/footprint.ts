import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ExtensionManifest } from '@bakehouse/schema';
import { buildRecordFiles, readRecord } from './record.js';

/**
 * The non-directory paths an extension ships, as far as can be known without building: exact
 * extract targets, Debian exports, generated units and the files/ overlay, plus every file listed by the build
 * records already in its dist/ (which also cover directory mappings). Files whose names carry
 * the extension's own name (extension-release, drop-ins, sysusers/tmpfiles) cannot collide and
 * are left out.
 */
export async function extensionFootprint(manifest: ExtensionManifest, extensionDir: string): Promise<Set<string>> {
  const paths = new Set<string>();
  for (const input of manifest.inputs) for (const rule of input.extract) if (!rule.to.endsWith('/')) paths.add(rule.to);
  for (const unit of Object.keys(manifest.units)) paths.add(`/usr/lib/systemd/system/${unit}`);
  for (const exported of manifest.debian?.export ?? []) paths.add(exported.to);
  for (const file of await listFiles(path.resolve(extensionDir, manifest.files))) paths.add(file);

  const distDir = path.join(extensionDir, 'dist');
  for (const file of await buildRecordFiles(distDir, manifest.name))
    for (const entry of (await readRecord(path.join(distDir, file))).files)
      if (entry.type !== 'dir' && !isNamedForExtension(entry.path, manifest.name)) paths.add(entry.path);
  return paths;
}

/** Generated files whose names contain the extension's name, so that no two extensions share them. */
function isNamedForExtension(imagePath: string, name: string): boolean {
  return (
    imagePath === `/usr/lib/extension-release.d/extension-release.${name}` ||
    imagePath === `/usr/lib/sysusers.d/${name}.conf` ||
    imagePath === `/usr/lib/tmpfiles.d/${name}.conf` ||
    new RegExp(`^/usr/lib/systemd/system/[^/]+\\.d/10-${name}-[^/]+\\.conf$`).test(imagePath)
  );
}

async function listFiles(root: string, relative = ''): Promise<string[]> {
  const entries = await readdir(path.join(root, relative), { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const rel = `${relative}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await listFiles(root, rel)));
    else files.push(rel);
  }
  return files;
}
