import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { buildRecordFiles, readRecord, sha256File, type BuildRecord } from '@bakehouse/builder';
import { imageVersion, parseTestRecord, TEST_RECORD_SUFFIX, type Arch, type ExtensionLock, type ExtensionManifest, type ReleaseIndexImage, type TestRecord } from '@bakehouse/schema';
import { PublishError } from './errors.js';

/** An extension to publish: its manifest, its current lock, and the directory its images were built into. */
export interface PublishExtension {
  manifest: ExtensionManifest;
  /** What every image must have been built from: the same versions and sha256 pins, the same .deb set. */
  lock: ExtensionLock;
  /** The lock's file, for messages (default: "the lock"). */
  lockFile?: string;
  distDir: string;
}

/** What an image must satisfy to be published, beyond matching its own build record. */
export interface ImageRequirements {
  /** Accept images built from source overrides (air-gapped repackaging); they stay marked in index.json and the catalog. */
  allowOverrides?: boolean;
  /** The Flatcar release being published: release-pinned images must carry it as VERSION_ID. Needed when one is published. */
  flatcarVersion?: string;
  /** Every image needs a passing boot test record (NAME-VERSION-ARCH.test.json) of exactly its bytes. */
  requireTests?: boolean;
}

/** A built image ready to publish: its index entry, where its file is now, and its boot test record if it has one. */
export interface BuiltImageFile {
  entry: ReleaseIndexImage;
  file: string;
  testRecord?: { bytes: Buffer; record: TestRecord };
  /** The SPDX SBOM the build wrote beside the image, checked against the sha256 its record names. */
  sbom?: Buffer;
}

/**
 * The images in dist/ (one BuildRecord .json per image), each checked before anything is
 * signed: its bytes against its record (sha256 and size), the record against the current
 * lock, no source overrides unless allowed, the Flatcar release of release-pinned images, and
 * its boot test record. One PublishError lists every image that fails, naming the image.
 */
export async function collectBuiltImages(extension: PublishExtension, requirements: ImageRequirements = {}): Promise<BuiltImageFile[]> {
  const { manifest, distDir } = extension;
  const name = manifest.name;
  const recordFiles = await buildRecordFiles(distDir, name);
  if (recordFiles.length === 0) throw new PublishError(`${distDir}: no built images of ${name}: run bakehouse build ${name} first`);
  const images: BuiltImageFile[] = [];
  const problems: string[] = [];
  for (const recordFile of recordFiles) {
    const record = await readRecord(path.join(distDir, recordFile));
    if (record.name !== name) continue;
    const file = path.join(distDir, record.image.file);
    const found = await imageProblems(extension, record, file, recordFile, requirements);
    if (found.problems.length) problems.push(...found.problems.map((p) => `${file}: ${p}`));
    else
      images.push({
        entry: indexEntry(manifest, record, path.join(distDir, recordFile), found.testRecord),
        file,
        ...(found.testRecord ? { testRecord: found.testRecord } : {}),
        ...(found.sbom ? { sbom: found.sbom } : {}),
      });
  }
  if (problems.length)
    throw new PublishError(`nothing was published: ${problems.length} problem(s) with the images of ${name}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return images;
}

async function imageProblems(
  extension: PublishExtension,
  record: BuildRecord,
  file: string,
  recordFile: string,
  requirements: ImageRequirements,
): Promise<{ problems: string[]; testRecord?: BuiltImageFile['testRecord']; sbom?: Buffer }> {
  const name = record.name;
  const rebuild = `run bakehouse build ${name} again`;
  const size = await stat(file).then(
    (s) => s.size,
    () => undefined,
  );
  if (size === undefined) return { problems: [`missing, although ${recordFile} describes it: ${rebuild}`] };
  if (size !== record.image.bytes) return { problems: [`${size} bytes, but ${recordFile} says ${record.image.bytes}: the image changed after its build; ${rebuild}`] };
  const sha256 = await sha256File(file);
  if (sha256 !== record.image.sha256) return { problems: [`sha256 ${sha256}, but ${recordFile} says ${record.image.sha256}: the image changed after its build; ${rebuild}`] };

  const problems: string[] = [];
  const overrides = overriddenInputs(record);
  if (overrides.length && !requirements.allowOverrides)
    problems.push(
      `built from source overrides (${overrides.join(', ')}), not the lock's pins: it holds whatever the override files held (bench and test builds use fakes). ` +
        `Rebuild without --sources / BAKEHOUSE_SOURCES, or, for a site that deliberately repackages upstream's files, publish with --allow-overrides (index.json and the catalog then mark it)`,
    );
  problems.push(...lockProblems(record, extension, overrides).map((p) => `${p}; the record is stale: ${rebuild}`));
  const { release } = extension.manifest;
  if (release.id === 'flatcar' && release.compat === 'release') {
    const built = record.extensionRelease.VERSION_ID;
    if (!requirements.flatcarVersion)
      problems.push(`release-pinned (VERSION_ID=${built}): say which Flatcar release is published with --flatcar-version (or BAKEHOUSE_FLATCAR_VERSION, or flatcar.json)`);
    else if (built !== requirements.flatcarVersion)
      problems.push(
        `built for Flatcar ${built} (VERSION_ID), but this tree is for Flatcar ${requirements.flatcarVersion}: hosts of that release would refuse it. ` +
          `Rebuild it with --flatcar-version ${requirements.flatcarVersion}`,
      );
  }
  const sbom = await readSbom(path.dirname(file), record, recordFile);
  if (sbom.problem) problems.push(sbom.problem);
  const test = await readTestRecord(file, record);
  if (test.problem) problems.push(test.problem);
  else if (!test.found && requirements.requireTests)
    problems.push(`has no boot test record (${path.basename(testRecordPath(file))}): only images whose exact bytes passed a boot test are published here; boot-test it (pnpm release) first`);
  return { problems, ...(test.found ? { testRecord: test.found } : {}), ...(sbom.bytes ? { sbom: sbom.bytes } : {}) };
}

/** The SBOM the record names (records of builds before SBOMs name none): its bytes must be the ones built with the image. */
async function readSbom(distDir: string, record: BuildRecord, recordFile: string): Promise<{ bytes?: Buffer; problem?: string }> {
  if (!record.sbom) return {};
  const bytes = await readFile(path.join(distDir, record.sbom.file)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!bytes) return { problem: `its SBOM ${record.sbom.file}, which ${recordFile} names, is missing: run bakehouse build ${record.name} again` };
  const sha256 = sha256Of(bytes);
  if (sha256 !== record.sbom.sha256) return { problem: `its SBOM ${record.sbom.file} has sha256 ${sha256}, but ${recordFile} says ${record.sbom.sha256}: it changed after the build; run bakehouse build ${record.name} again` };
  return { bytes };
}

/** The inputs and Debian packages of a record that came from source overrides. */
export function overriddenInputs(record: BuildRecord): string[] {
  return [...record.inputs.filter((i) => i.pinnedBy === 'override').map((i) => i.name), ...(record.debian ?? []).filter((d) => d.pinnedBy === 'override').map((d) => d.package)];
}

/**
 * How the record's inputs differ from the lock's: the image version, each input's version and
 * sha256 for the record's arch, and the closure's .deb set. Overridden inputs carry the override's
 * sha256, so only their versions are compared.
 */
function lockProblems(record: BuildRecord, { manifest, lock, lockFile = 'the lock' }: PublishExtension, overrides: readonly string[]): string[] {
  const arch = record.arch as Arch;
  const image = lock.images.find((i) => imageVersion(i) === record.version && i.line === record.line);
  if (!image) return [`built as version ${record.version}, which ${lockFile} no longer holds (it locks ${lock.images.map(imageVersion).join(', ')})`];
  const problems: string[] = [];
  const recorded = new Map(record.inputs.map((i) => [i.name, i]));
  for (const input of manifest.inputs) {
    const pin = image.inputs[input.name];
    const got = recorded.get(input.name);
    if (!pin) continue;
    if (!got) problems.push(`its record has no input "${input.name}", which ${lockFile} pins at ${pin.version}`);
    else if (got.version !== pin.version) problems.push(`built with ${input.name} ${got.version}, but ${lockFile} pins ${pin.version}`);
    else if (!overrides.includes(input.name) && got.sha256 !== pin.sha256[arch])
      problems.push(`built with ${input.name} ${got.version} sha256 ${got.sha256}, but ${lockFile} pins sha256 ${pin.sha256[arch] ?? '(none)'} for ${arch}`);
  }
  for (const name of recorded.keys()) if (!manifest.inputs.some((i) => i.name === name)) problems.push(`built with an input "${name}" that the manifest no longer has`);

  const lockedDebs = new Map((image.debian?.[arch] ?? []).map((d) => [`${d.package} ${d.version}`, d.sha256]));
  const builtDebs = new Map((record.debian ?? []).map((d) => [`${d.package} ${d.version}`, d]));
  const missing = [...lockedDebs.keys()].filter((k) => !builtDebs.has(k));
  const extra = [...builtDebs.keys()].filter((k) => !lockedDebs.has(k));
  if (missing.length || extra.length)
    problems.push(`its Debian closure is not the one ${lockFile} pins for ${arch}:${missing.length ? ` the lock adds ${missing.join(', ')};` : ''}${extra.length ? ` the lock no longer has ${extra.join(', ')};` : ''}`.replace(/;$/, ''));
  for (const [key, deb] of builtDebs)
    if (lockedDebs.has(key) && deb.pinnedBy !== 'override' && lockedDebs.get(key) !== deb.sha256) problems.push(`built with ${key} sha256 ${deb.sha256}, but ${lockFile} pins ${lockedDebs.get(key)}`);
  return problems;
}

/** NAME-VERSION-ARCH.raw → NAME-VERSION-ARCH.test.json beside it. */
export function testRecordPath(imageFile: string): string {
  return imageFile.replace(/\.raw$/, TEST_RECORD_SUFFIX);
}

/** The image's boot test record, if it has one: it must name exactly these bytes, and have passed. */
async function readTestRecord(file: string, record: BuildRecord): Promise<{ found?: BuiltImageFile['testRecord']; problem?: string }> {
  const recordPath = testRecordPath(file);
  const bytes = await readFile(recordPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!bytes) return {};
  let test: TestRecord;
  try {
    test = parseTestRecord(bytes.toString(), recordPath);
  } catch (error) {
    return { problem: `its boot test record is unreadable: ${(error as Error).message}` };
  }
  const base = path.basename(recordPath);
  if (test.image.sha256 !== record.image.sha256 || test.image.file !== record.image.file)
    return { problem: `${base} booted ${test.image.file} with sha256 ${test.image.sha256}, not these bytes (${record.image.sha256}): publish only what was tested; boot-test this image again` };
  if (!test.ok) return { problem: `${base} says its boot test failed${test.problem ? ` (${test.problem})` : ''}: fix the image and boot-test it again` };
  return { found: { bytes, record: test } };
}

function indexEntry(manifest: ExtensionManifest, record: BuildRecord, recordFile: string, test: BuiltImageFile['testRecord']): ReleaseIndexImage {
  const overrides = overriddenInputs(record);
  const imagePath = `${record.name}/${record.image.file}`;
  return {
    extension: record.name,
    version: record.version,
    ...(record.line === undefined ? {} : { line: record.line }),
    arch: record.arch as ReleaseIndexImage['arch'],
    format: record.format,
    path: imagePath,
    sha256: record.image.sha256,
    bytes: record.image.bytes,
    compatibility: compatibility(record.extensionRelease, recordFile),
    ...verity(record, recordFile),
    requires: manifest.requires.map(requirementText),
    conflicts: { extensions: [...manifest.conflicts.extensions].sort(), builtins: [...manifest.conflicts.builtins].sort() },
    ...(overrides.length ? { overrides } : {}),
    ...(test ? { test: { path: testRecordPath(imagePath), sha256: sha256Of(test.bytes), testbed: test.record.testbed } } : {}),
    ...(record.sbom ? { sbom: { path: `${record.name}/${record.sbom.file}`, sha256: record.sbom.sha256 } } : {}),
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

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
