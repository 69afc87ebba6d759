import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import { readRecord, sha256File, type BuildRecord } from '@bakehouse/builder';
import type { ExtensionManifest, ReleaseIndexImage } from '@bakehouse/schema';
import { PublishError } from './errors.js';

/** An extension to publish: its manifest and the dist/ directory its images were built into. */
export interface PublishExtension {
  manifest: ExtensionManifest;
  distDir: string;
}

/** A built image ready to publish: its index entry and where its file is now. */
export interface BuiltImageFile {
  entry: ReleaseIndexImage;
  file: string;
}

/**
 * The images in dist/ (one BuildRecord .json per image), checked against their records:
 * publishing never rebuilds, so a missing or changed image is an error telling to build.
 */
export async function collectBuiltImages({ manifest, distDir }: PublishExtension): Promise<BuiltImageFile[]> {
  const name = manifest.name;
  const recordFiles = (await readdir(distDir).catch(() => [] as string[])).filter((f) => f.startsWith(`${name}-`) && f.endsWith('.json')).sort();
  if (recordFiles.length === 0) throw new PublishError(`${distDir}: no built images of ${name}: run bakehouse build ${name} first`);
  const images: BuiltImageFile[] = [];
  for (const recordFile of recordFiles) {
    const record = await readRecord(path.join(distDir, recordFile));
    if (record.name !== name) continue;
    const file = path.join(distDir, record.image.file);
    const exists = await access(file).then(
      () => true,
      () => false,
    );
    if (!exists) throw new PublishError(`${file} is missing although ${recordFile} describes it: run bakehouse build ${name} again`);
    const sha256 = await sha256File(file);
    if (sha256 !== record.image.sha256)
      throw new PublishError(`${file} has sha256 ${sha256}, but ${recordFile} says ${record.image.sha256}: the image changed after its build; run bakehouse build ${name} again`);
    images.push({ entry: indexEntry(manifest, record, path.join(distDir, recordFile)), file });
  }
  return images;
}

function indexEntry(manifest: ExtensionManifest, record: BuildRecord, recordFile: string): ReleaseIndexImage {
  return {
    extension: record.name,
    version: record.version,
    ...(record.line === undefined ? {} : { line: record.line }),
    arch: record.arch as ReleaseIndexImage['arch'],
    format: record.format,
    path: `${record.name}/${record.image.file}`,
    sha256: record.image.sha256,
    bytes: record.image.bytes,
    compatibility: compatibility(record.extensionRelease, recordFile),
    ...verity(record, recordFile),
    requires: manifest.requires.map(requirementText),
    conflicts: { extensions: [...manifest.conflicts.extensions].sort(), builtins: [...manifest.conflicts.builtins].sort() },
  };
}

/** "a" for a plain requirement, "a | b" for { anyOf: [a, b] }. */
export function requirementText(requirement: ExtensionManifest['requires'][number]): string {
  return typeof requirement === 'string' ? requirement : requirement.anyOf.join(' | ');
}

/** A signed DDI's root hash and certificate; a record that says "ddi" without them was not written by this builder. */
function verity(record: BuildRecord, recordFile: string): Pick<ReleaseIndexImage, 'verity'> {
  if (record.format !== 'ddi') return {};
  if (!record.verity) throw new PublishError(`${recordFile}: format is "ddi" but the record has no verity (rootHash, certificateSha256): rebuild the image with bakehouse build ${record.name} --sign-key KEY --sign-cert CERT`);
  return { verity: { rootHash: record.verity.rootHash, certificateSha256: record.verity.certificateSha256 } };
}

function compatibility(release: Record<string, string>, recordFile: string): ReleaseIndexImage['compatibility'] {
  const id = release.ID;
  if (id === '_any') return { id };
  if (id && release.SYSEXT_LEVEL) return { id, sysextLevel: release.SYSEXT_LEVEL };
  if (id && release.VERSION_ID) return { id, versionId: release.VERSION_ID };
  throw new PublishError(`${recordFile}: extensionRelease has neither ID=_any, SYSEXT_LEVEL nor VERSION_ID: rebuild the image`);
}
