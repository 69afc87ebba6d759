import { createHash } from 'node:crypto';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeCatalog } from '@bakehouse/catalog';
import { parseReleaseIndex, RELEASE_INDEX_FILE, type ReleaseIndex, type ReleaseIndexImage, type ReleaseIndexSnippet, type RetiredLine } from '@bakehouse/schema';
import { certificatesFor, checkBuiltCertificates, readVerityCertificate } from './certificates.js';
import { PublishError } from './errors.js';
import { copyAtomically, openTreeSource, writeIfChanged, type TreeSource } from './files.js';
import { checkSignature, type Signer } from './gpg.js';
import { renderButane, renderIgnition } from './ignition.js';
import { collectBuiltImages, requirementText, type BuiltImageFile, type ImageRequirements, type PublishExtension } from './images.js';
import { renderTransfer, transferName } from './sysupdate.js';
import { compareVersions } from './version.js';

export const SHA256SUMS = 'SHA256SUMS';
export const SIGNATURE_SUFFIX = '.gpg';
/** The armored public key, for people and `gpg --import`. */
export const PUBLIC_KEY_ASC = 'bakehouse.pub.asc';
/** The same key as a binary keyring: what hosts install as /etc/systemd/import-pubring.gpg. */
export const PUBLIC_KEYRING = 'bakehouse-pubring.gpg';
export const DEFAULT_KEEP = 3;

export interface PublishOptions extends ImageRequirements {
  outDir: string;
  extensions: readonly PublishExtension[];
  signer: Signer;
  /** The URL the tree is served from; by default the previous tree's. */
  baseUrl?: string;
  /** The tree to merge with: a directory or URL. By default outDir, when it already holds a tree. */
  previous?: string;
  /** Versions kept per extension and line. */
  keep?: number;
  /** The certificate signed DDIs were built with (PEM or DER; the builder's --sign-cert). Needed when a DDI is published. */
  verityCertificate?: string;
  /** Writes the HTML catalog (index.html, EXT/index.html) into the finished tree; default true. */
  catalog?: boolean;
}

export interface PublishResult {
  index: ReleaseIndex;
  /** Tree-relative paths written in this run: with a remote previous tree, what to upload. */
  written: string[];
  /** Tree-relative paths the previous index named and this one does not (retention, dropped lines): delete them from a remote tree after uploading index.json. */
  pruned: string[];
  /** The pruned paths that were present in outDir and are now removed from it. */
  removed: string[];
}

/**
 * Writes a release tree in an order that keeps every reader safe: images first, then each
 * extension's SHA256SUMS and signature, then the global SHA256SUMS, then index.json; files the
 * new index no longer names are removed only after it is in place. Nothing carries a timestamp,
 * and signatures of unchanged SHA256SUMS are kept, so publishing the same images again changes no byte.
 */
export async function publishTree(options: PublishOptions): Promise<PublishResult> {
  const outDir = path.resolve(options.outDir);
  const keep = options.keep ?? DEFAULT_KEEP;
  if (!Number.isInteger(keep) || keep < 1) throw new PublishError(`--keep must be a whole number of versions, at least 1 (got ${keep})`);
  const previousSource = options.previous ? openTreeSource(options.previous) : (await exists(path.join(outDir, RELEASE_INDEX_FILE))) ? openTreeSource(outDir) : undefined;
  const previousIsOut = previousSource !== undefined && !/^https?:/.test(previousSource.location) && path.resolve(previousSource.location) === outDir;
  const previous = previousSource ? await readPreviousIndex(previousSource) : undefined;
  const baseUrl = (options.baseUrl ?? previous?.baseUrl)?.replace(/\/+$/, '');
  if (!baseUrl) throw new PublishError('the tree needs its public URL for the sysupdate transfers and Ignition configs: pass --base-url https://HOST/PATH');

  const built = await collectAll(options.extensions, options);
  const givenCertificate = options.verityCertificate ? await readVerityCertificate(options.verityCertificate) : undefined;
  checkBuiltCertificates(built, givenCertificate, options.verityCertificate);
  const images = mergeImages(previous, built, previousSource?.location);
  const retained = retain(images, keep);
  const certificates = await certificatesFor(retained, givenCertificate, previous, previousSource);

  const written: string[] = [];
  const write = async (relative: string, content: string | Buffer) => {
    if (await writeIfChanged(path.join(outDir, relative), content)) written.push(relative);
  };

  // Keys first: the signature checks below and every Ignition config refer to them.
  const pubring = await options.signer.publicKey(false);
  await write(PUBLIC_KEY_ASC, await options.signer.publicKey(true));
  await write(PUBLIC_KEYRING, pubring);
  for (const certificate of certificates) await write(certificate.entry.path, certificate.pem);

  const retainedPaths = new Set(retained.map((i) => i.path));
  for (const image of built) {
    if (!retainedPaths.has(image.entry.path)) continue;
    const alreadyPublished = previous && findImage(previous, image.entry.path)?.sha256 === image.entry.sha256;
    const target = path.join(outDir, image.entry.path);
    if (alreadyPublished && (!previousIsOut || (await exists(target)))) continue;
    await copyAtomically(image.file, target);
    written.push(image.entry.path);
  }
  // The boot test evidence sits beside its image; a re-test of the same bytes replaces it.
  for (const image of built) if (retainedPaths.has(image.entry.path) && image.testRecord && image.entry.test) await write(image.entry.test.path, image.testRecord.bytes);
  for (const image of built) if (retainedPaths.has(image.entry.path) && image.sbom && image.entry.sbom) await write(image.entry.sbom.path, image.sbom);

  // Signatures are made in a scratch directory, so SHA256SUMS and its .gpg are renamed into place back to back.
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-publish-'));
  const keyring = path.join(scratch, PUBLIC_KEYRING);
  await writeFile(keyring, pubring);
  const sign = async (sumsPath: string, content: string) => {
    const signature = (await reusableSignature([openTreeSource(outDir), ...(previousSource ? [previousSource] : [])], sumsPath, content, keyring, scratch)) ?? (await signText(options.signer, content, scratch));
    await write(sumsPath, content);
    await write(sumsPath + SIGNATURE_SUFFIX, signature);
  };

  const extensions: ReleaseIndex['extensions'] = {};
  try {
    const manifests = new Map(options.extensions.map((e) => [e.manifest.name, e.manifest]));
    const retiredLines = new Map(options.extensions.map((e) => [e.manifest.name, e.lock.retiredLines ?? []]));
    const names = [...new Set(retained.map((i) => i.extension))].sort();
    const pubringRef = { path: PUBLIC_KEYRING, sha256: sha256(pubring) };
    for (const name of names) {
      const own = retained.filter((i) => i.extension === name);
      const manifest = manifests.get(name);
      const before = previous?.extensions[name];
      const lines = manifest ? manifest.lines : before?.lines;
      const snippets: ReleaseIndexSnippet[] = [];
      for (const line of [undefined, ...(lines ?? [])]) {
        const transfer = renderTransfer({ extension: name, baseUrl, ...(line === undefined ? {} : { line }) });
        const base = `${name}/${transferName(name, line)}`;
        const lineField = line === undefined ? {} : { line };
        await write(`${base}.transfer`, transfer);
        await write(`${base}.conf`, transfer);
        snippets.push({ kind: 'sysupdate-transfer', path: `${base}.transfer`, ...lineField }, { kind: 'sysupdate-conf', path: `${base}.conf`, ...lineField });
        for (const arch of [...new Set(own.map((i) => i.arch))].sort()) {
          const latest = own.filter((i) => i.arch === arch && (line === undefined || i.line === line)).sort((a, b) => compareVersions(b.version, a.version))[0];
          if (!latest) continue;
          const certificate = certificates.find((c) => c.entry.certificateSha256 === latest.verity?.certificateSha256)?.entry;
          const input = { extension: name, baseUrl, ...lineField, image: latest, pubring: pubringRef, ...(certificate ? { verityCertificate: certificate } : {}), maskBuiltins: latest.conflicts.builtins };
          await write(`${base}-${arch}.bu`, renderButane(input));
          await write(`${base}-${arch}.ign`, renderIgnition(input));
          snippets.push({ kind: 'butane', path: `${base}-${arch}.bu`, arch, ...lineField }, { kind: 'ignition', path: `${base}-${arch}.ign`, arch, ...lineField });
        }
      }
      await sign(`${name}/${SHA256SUMS}`, renderSums(own, `${name}/`));
      extensions[name] = {
        description: manifest?.description ?? before?.description ?? '',
        ...(manifest ? { category: manifest.category } : before?.category ? { category: before.category } : {}),
        ...(manifest ? { homepage: manifest.homepage } : before?.homepage ? { homepage: before.homepage } : {}),
        ...(lines ? { lines: [...lines] } : {}),
        requires: manifest ? manifest.requires.map(requirementText) : (before?.requires ?? []),
        conflicts: manifest
          ? { extensions: [...manifest.conflicts.extensions].sort(), builtins: [...manifest.conflicts.builtins].sort() }
          : (before?.conflicts ?? { extensions: [], builtins: [] }),
        images: own.map((image) => markEndOfLife(image, retiredLines.get(name))),
        snippets,
      };
    }
    // The certificates, test records and SBOMs are listed too: the signed global SHA256SUMS vouches for them.
    await sign(SHA256SUMS, renderSums([...retained, ...retained.flatMap((i) => [...(i.test ? [i.test] : []), ...(i.sbom ? [i.sbom] : [])]), ...certificates.map((c) => c.entry)], ''));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  const index: ReleaseIndex = {
    indexVersion: 1,
    baseUrl,
    publicKeys: [PUBLIC_KEY_ASC, PUBLIC_KEYRING],
    ...(certificates.length > 0 ? { verityCertificates: certificates.map((c) => c.entry) } : {}),
    extensions,
  };
  await write(RELEASE_INDEX_FILE, `${JSON.stringify(index, null, 2)}\n`);
  if (options.catalog !== false) await writeCatalog({ treeDir: outDir, index, manifests: options.extensions.map((e) => e.manifest) });

  // Only now that index.json no longer names them may pruned files disappear.
  const pruned = unnamedNow(previous, index);
  const removed = await removeFiles(outDir, pruned);
  return { index, written: written.sort(), pruned, removed };
}

async function readPreviousIndex(source: TreeSource): Promise<ReleaseIndex | undefined> {
  const text = await source.read(RELEASE_INDEX_FILE);
  if (text === undefined) return undefined;
  const file = `${source.location}/${RELEASE_INDEX_FILE}`;
  const index = parseReleaseIndex(text.toString(), file);
  // Its paths decide what is kept and what is deleted from --out: each must stay inside its extension's directory.
  for (const [name, extension] of Object.entries(index.extensions)) {
    const paths = [...extension.images.flatMap((i) => [i.path, ...(i.test ? [i.test.path] : []), ...(i.sbom ? [i.sbom.path] : [])]), ...extension.snippets.map((s) => s.path)];
    const wrong = paths.find((p) => !p.startsWith(`${name}/`) || !/^[^/]+\/[A-Za-z0-9][A-Za-z0-9._+~^-]*$/.test(p));
    if (wrong) throw new PublishError(`${file}: extensions.${name} names "${wrong}", which is not a file directly inside ${name}/; this is not a tree bakehouse wrote`);
  }
  const wrongCertificate = index.verityCertificates?.find((c) => !/^[A-Za-z0-9][A-Za-z0-9._+~^-]*$/.test(c.path));
  if (wrongCertificate) throw new PublishError(`${file}: verityCertificates names "${wrongCertificate.path}", which is not a file at the tree's root; this is not a tree bakehouse wrote`);
  return index;
}

function findImage(index: ReleaseIndex, imagePath: string): ReleaseIndexImage | undefined {
  return Object.values(index.extensions)
    .flatMap((e) => e.images)
    .find((i) => i.path === imagePath);
}

/**
 * Every extension's built images, checked before anything is written: one error lists the
 * problems of every extension, so a run shows all that stands in the way of publishing.
 */
async function collectAll(extensions: readonly PublishExtension[], requirements: ImageRequirements): Promise<BuiltImageFile[]> {
  const results = await Promise.allSettled(extensions.map((extension) => collectBuiltImages(extension, requirements)));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    const unexpected = failures.find((f) => !(f instanceof PublishError));
    if (unexpected) throw unexpected;
    throw new PublishError(failures.map((f) => f.message).join('\n'));
  }
  return results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
}

/** The previous tree's images plus the new ones; a file name may never change its content. */
function mergeImages(previous: ReleaseIndex | undefined, built: readonly BuiltImageFile[], previousLocation?: string): ReleaseIndexImage[] {
  const byPath = new Map<string, ReleaseIndexImage>();
  for (const extension of Object.values(previous?.extensions ?? {})) for (const image of extension.images) byPath.set(image.path, image);
  for (const { entry } of built) {
    const old = byPath.get(entry.path);
    if (old && old.sha256 !== entry.sha256)
      throw new PublishError(
        `${entry.path} is already published in ${previousLocation} with sha256 ${old.sha256}, but the new build is ${entry.sha256}. ` +
          `Hosts that have ${entry.version} would never receive the change: bump the packaging revision (bakehouse bump ${entry.extension} --revision), rebuild and publish again.`,
      );
    // The same bytes published again without a test record keep the evidence they were published with.
    byPath.set(entry.path, !entry.test && old?.test ? { ...entry, test: old.test } : entry);
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * An image of a line its lock retired after upstream's end of life carries the date: it stays
 * listed (hosts on the line still run it) so the catalog can warn them. Without the extension in
 * this run, the previous index's mark stands.
 */
function markEndOfLife(image: ReleaseIndexImage, retired: readonly RetiredLine[] | undefined): ReleaseIndexImage {
  const endOfLife = retired?.find((r) => r.line === image.line)?.endOfLife;
  return endOfLife === undefined || image.endOfLife === endOfLife ? image : { ...image, endOfLife };
}

/** Keeps the `keep` newest versions (systemd's order) of each extension and line, every arch of them. */
export function retain(images: readonly ReleaseIndexImage[], keep: number): ReleaseIndexImage[] {
  const groups = new Map<string, ReleaseIndexImage[]>();
  for (const image of images) {
    const key = `${image.extension}\0${image.line ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), image]);
  }
  const kept = new Set<ReleaseIndexImage>();
  for (const group of groups.values()) {
    const versions = [...new Set(group.map((i) => i.version))].sort((a, b) => compareVersions(b, a)).slice(0, keep);
    for (const image of group) if (versions.includes(image.version)) kept.add(image);
  }
  return images.filter((i) => kept.has(i));
}

/** sha256sum format, paths relative to the SHA256SUMS file, sorted. */
function renderSums(files: readonly { path: string; sha256: string }[], prefix: string): string {
  return files
    .map((i) => [i.path.slice(prefix.length), i.sha256] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([file, sum]) => `${sum}  ${file}\n`)
    .join('');
}

/**
 * gpg signatures carry their creation time, so re-signing identical SHA256SUMS would change
 * bytes. An existing signature of exactly this content that the current key verifies is kept.
 */
async function reusableSignature(sources: readonly TreeSource[], sumsPath: string, content: string, keyring: string, scratch: string): Promise<Buffer | undefined> {
  for (const source of sources) {
    const [sums, signature] = await Promise.all([source.read(sumsPath), source.read(sumsPath + SIGNATURE_SUFFIX)]);
    if (!sums || !signature || sums.toString() !== content) continue;
    await writeFile(path.join(scratch, 'candidate'), sums);
    await writeFile(path.join(scratch, 'candidate.gpg'), signature);
    if (await checkSignature(keyring, path.join(scratch, 'candidate'), path.join(scratch, 'candidate.gpg'))) return signature;
  }
  return undefined;
}

async function signText(signer: Signer, content: string, scratch: string): Promise<Buffer> {
  const file = path.join(scratch, 'to-sign');
  await writeFile(file, content);
  await rm(`${file}.gpg`, { force: true });
  await signer.sign(file, `${file}.gpg`);
  return readFile(`${file}.gpg`);
}

/** Images and snippets the previous index named and the new one does not. */
function unnamedNow(previous: ReleaseIndex | undefined, index: ReleaseIndex): string[] {
  const paths = (i: ReleaseIndex | undefined) => [
    ...Object.values(i?.extensions ?? {}).flatMap((e) => [...e.images.flatMap((x) => [x.path, ...(x.test ? [x.test.path] : []), ...(x.sbom ? [x.sbom.path] : [])]), ...e.snippets.map((x) => x.path)]),
    ...(i?.verityCertificates ?? []).map((c) => c.path),
  ];
  const named = new Set(paths(index));
  return [...new Set(paths(previous))].filter((p) => !named.has(p)).sort();
}

/** Removes the pruned files present in outDir, and leftovers of interrupted runs. */
async function removeFiles(outDir: string, pruned: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const relative of pruned) {
    if (!(await exists(path.join(outDir, relative)))) continue;
    await rm(path.join(outDir, relative), { force: true });
    removed.push(relative);
  }
  const dirs = new Set(['', ...(await readdir(outDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name)]);
  for (const dir of dirs)
    for (const file of await readdir(path.join(outDir, dir)).catch(() => [] as string[]))
      if (/^\..*\.partial$/.test(file)) await rm(path.join(outDir, dir, file), { force: true });
  return removed;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
