import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Arch, ExtensionLock, ExtensionManifest, ImageFormat, SourceOverrides } from '@bakehouse/schema';
import { replaceAtomically, sweepPartials, writeFileAtomic } from './atomic.js';
import pLimit from 'p-limit';
import { FetchError, fetchDownload, type FetchOptions } from './fetch/index.js';
import { sha256File } from './hash.js';
import { ImageError, writeImage, type SquashfsCompression } from './image.js';
import { makeDdi, type SigningKey } from './ddi/index.js';
import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { lintTree, type LintProblem } from './lint.js';
import { resolvePlan, type BuildPlan } from './plan.js';
import { createRecord, finishDist, type BuildRecord } from './record.js';
import { stageTree } from './stage.js';
import { listTree } from './tree.js';
import { ownedName, sweepAbandoned } from './scratch.js';
import { readCopyrights } from './sbom/copyright.js';
import { declaredLicense, type DeclaredLicense } from './sbom/dep5.js';
import { createSbom, renderSbom, sbomFileName } from './sbom/spdx.js';

export interface BuildOptions {
  arches: readonly Arch[];
  format?: ImageFormat;
  /** squashfs compressor; xz unless given (see image.ts for the numbers behind it). */
  compression?: SquashfsCompression;
  /** Where NAME-VERSION-ARCH.raw, .json and SHA256SUMS go; by default the extension's dist/. */
  distDir?: string;
  fetch: FetchOptions;
  flatcarVersion?: string;
  sources?: SourceOverrides;
  sourceDateEpoch?: number;
  /** Bytes one input may unpack to; by default 100× its download, at least 256 MiB (see unpackInput). */
  maxUnpackedBytes?: number;
  /** Sign: build systemd discoverable disk images (format "ddi": erofs + dm-verity + signature) instead of plain images. */
  signing?: SigningKey;
}

export interface BuiltImage {
  plan: BuildPlan;
  record: BuildRecord;
  imagePath: string;
  durationMs: number;
}

export class LintError extends Error {
  override readonly name = 'LintError';
  constructor(
    readonly extension: string,
    readonly problems: LintProblem[],
  ) {
    super(`${extension}: the staged image breaks ${problems.length} rule(s):\n${problems.map((p) => `  - [${p.rule}] ${p.message}`).join('\n')}`);
  }
}

/** Builds every locked image version (one per line) for every requested arch into dist/, then writes SHA256SUMS. */
export async function buildExtension(manifest: ExtensionManifest, lock: ExtensionLock, extensionDir: string, options: BuildOptions): Promise<BuiltImage[]> {
  const distDir = options.distDir ?? path.join(extensionDir, 'dist');
  await mkdir(distDir, { recursive: true });
  await Promise.all([sweepPartials(distDir), sweepAbandoned(os.tmpdir(), STAGE_PREFIX)]);
  const built: BuiltImage[] = [];
  for (const image of lock.images)
    for (const arch of options.arches) {
      const plan = resolvePlan(manifest, image, {
        extensionDir,
        arch,
        format: options.format,
        compression: options.compression,
        flatcarVersion: options.flatcarVersion,
        sources: options.sources,
        sourceDateEpoch: options.sourceDateEpoch,
      });
      built.push(await buildImage(plan, distDir, options.fetch, { maxUnpackedBytes: options.maxUnpackedBytes, signing: options.signing }));
    }
  await finishDist(distDir, manifest.name, built.map((b) => b.record));
  return built;
}

/** plan → fetch → stage → lint → image → record, for one arch. Nothing lands in distDir unless every step passed. */
export async function buildImage(
  plan: BuildPlan,
  distDir: string,
  fetchOptions: FetchOptions,
  extra: { maxUnpackedBytes?: number; signing?: SigningKey } = {},
): Promise<BuiltImage> {
  const started = performance.now();
  const [downloads, debs] = await settleAll([
    settleAll(plan.inputs.map(async (input) => [input.name, await fetchDownload(input, fetchOptions)] as const)).then((pairs) => new Map(pairs)),
    fetchClosure(plan, fetchOptions),
  ] as const);

  const stageDir = await mkdtemp(path.join(os.tmpdir(), ownedName(`${STAGE_PREFIX}${plan.imageName}-`)));
  try {
    const [licenses] = await settleAll([closureLicenses(plan, debs), stageTree(plan, { inputs: downloads, debs }, stageDir, { maxUnpackedBytes: extra.maxUnpackedBytes })] as const);
    const tree = await listTree(stageDir);
    const problems = await lintTree(plan, stageDir, tree);
    if (problems.length) throw new LintError(plan.name, problems);

    const imagePath = path.join(distDir, `${plan.imageName}.raw`);
    const recordPath = path.join(distDir, `${plan.imageName}.json`);
    const built = await writeOutput(distDir, () =>
      replaceAtomically(imagePath, async (partial) => {
        const made = await makeOne(plan, stageDir, partial, fetchOptions, extra.signing);
        const [sha256, { size }] = await Promise.all([sha256File(partial), stat(partial)]);
        // The old record goes before the new image arrives: a crash between the two renames then
        // leaves an image without a record, never a record that describes another image.
        await rm(recordPath, { force: true });
        return createRecord(plan, { file: path.basename(imagePath), sha256, bytes: size }, tree, { [made.tool]: made.version }, made.ddi);
      }),
    );
    // The SBOM is made from the record, and the record then names the SBOM's bytes, so the two agree;
    // the record is written last, as the sign that the image, and now its SBOM, are complete.
    const sbom = renderSbom(createSbom(built, { licenses, debArchitectures: new Map(plan.closure?.debs.map((d) => [d.name, d.architecture])) }));
    const sbomFile = sbomFileName(plan.imageName);
    await writeOutput(distDir, () => writeFileAtomic(path.join(distDir, sbomFile), sbom));
    const record: BuildRecord = { ...built, sbom: { file: sbomFile, sha256: createHash('sha256').update(sbom).digest('hex') } };
    await writeOutput(distDir, () => writeFileAtomic(recordPath, `${JSON.stringify(record, null, 2)}\n`));
    return { plan, record, imagePath, durationMs: performance.now() - started };
  } finally {
    await rm(stageDir, { recursive: true, force: true });
  }
}

/**
 * Like Promise.all, but when one fails it still waits for the others: a build that failed
 * must not leave downloads running that write into the cache after it has returned.
 */
async function settleAll<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** A plain image, or with a signing key a signed DDI, at `output`. */
async function makeOne(
  plan: BuildPlan,
  stageDir: string,
  output: string,
  fetchOptions: FetchOptions,
  signing: SigningKey | undefined,
): Promise<{ tool: string; version: string; ddi?: BuildRecord['verity'] }> {
  const identity = plan.imageName;
  if (!signing) return writeImage({ stageDir, output, format: plan.format, compression: plan.compression, sourceDateEpoch: plan.sourceDateEpoch, identity });
  const ddi = await makeDdi({ stageDir, output, arch: plan.arch, identity, sourceDateEpoch: plan.sourceDateEpoch, signing, cacheDir: fetchOptions.cacheDir, log: (m) => fetchOptions.progress?.note(m) });
  const certificateSha256 = createHash('sha256').update(new X509Certificate(await readFile(signing.cert)).raw).digest('hex');
  return { tool: ddi.tool, version: ddi.version, ddi: { rootHash: ddi.rootHash, certificateSha256 } };
}

/** What each closure package's copyright file declares; packages whose file is not machine-readable are absent. */
async function closureLicenses(plan: BuildPlan, debFiles: readonly string[]): Promise<Map<string, DeclaredLicense>> {
  const debs = plan.closure?.debs ?? [];
  const copyrights = await readCopyrights(debs.map((deb, i) => ({ name: deb.name, file: debFiles[i]! })));
  return new Map(debs.flatMap((deb) => {
    const text = copyrights.get(deb.name);
    const declared = text === undefined ? undefined : declaredLicense(text);
    return declared ? [[deb.name, declared] as const] : [];
  }));
}

/** Stage trees live in the temp dir under this prefix, with their owner in the name. */
const STAGE_PREFIX = 'bakehouse-stage-';

/** A full or read-only output directory gets a message that says which directory, not a bare errno. */
async function writeOutput<T>(distDir: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS')
      throw new ImageError(`cannot write to ${distDir} (${code}): ${code === 'EROFS' ? 'it is read-only' : 'its file system is full'}. Nothing partial was kept; free space there and build again.`, { cause: error });
    throw error;
  }
}

/** The closure's .debs, a few at a time: a closure has dozens, and the archive is one server. */
async function fetchClosure(plan: BuildPlan, fetchOptions: FetchOptions): Promise<string[]> {
  if (!plan.closure) return [];
  const limit = pLimit(6);
  return settleAll(
    plan.closure.debs.map((deb) =>
      limit(() =>
        fetchDownload(deb, fetchOptions).catch((error: unknown) => {
          if (!(error instanceof FetchError)) throw error;
          throw new FetchError(
            error.input,
            error.url,
            `${error.message}\nThe lock pins ${deb.name} ${deb.version}; Debian drops superseded versions from its archive. Run \`bakehouse bump ${plan.name}\` to resolve the closure again.`,
            { cause: error },
          );
        }),
      ),
    ),
  );
}
