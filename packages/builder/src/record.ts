import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ARCHES, type ImageFormat } from '@bakehouse/schema';
import { writeFileAtomic } from './atomic.js';
import { overriddenNames, type BuildPlan } from './plan.js';
import { serializeTree, type SerializedEntry, type TreeEntry } from './tree.js';

/** What went into an image and what came out; written as dist/NAME-VERSION-ARCH.json. Holds no timestamps, so it is reproducible too. */
export interface BuildRecord {
  recordVersion: 1;
  name: string;
  version: string;
  line?: string;
  arch: string;
  /** "ddi": a signed discoverable disk image (GPT: erofs root, dm-verity hash, PKCS#7 signature). */
  format: ImageFormat | 'ddi';
  /** squashfs images: the compressor. */
  compression?: string;
  image: { file: string; sha256: string; bytes: number };
  /** Signed DDIs: the dm-verity root hash the signature covers, and the sha256 (DER) of the certificate that verifies it. */
  verity?: { rootHash: string; certificateSha256: string };
  extensionRelease: Record<string, string>;
  inputs: { name: string; kind: string; version: string; url: string; sha256: string; pinnedBy: string }[];
  /** The Debian closure's packages, when the extension has one. */
  debian?: { package: string; version: string; url: string; sha256: string; pinnedBy: string }[];
  /** Override builds only: the inputs and packages built from source overrides instead of the lock's pins (also in extensionRelease). */
  sourceOverrides?: string[];
  tools: Record<string, string>;
  sourceDateEpoch: number;
  files: SerializedEntry[];
  /** The image's SPDX 2.3 SBOM, NAME-VERSION-ARCH.spdx.json beside it (sbom/spdx.ts), made from this record. */
  sbom?: { file: string; sha256: string };
}

export function createRecord(
  plan: BuildPlan,
  image: BuildRecord['image'],
  tree: readonly TreeEntry[],
  tools: Record<string, string>,
  verity?: BuildRecord['verity'],
): BuildRecord {
  return {
    recordVersion: 1,
    name: plan.name,
    version: plan.version,
    ...(plan.line === undefined ? {} : { line: plan.line }),
    arch: plan.arch,
    format: verity ? 'ddi' : plan.format,
    ...(!verity && plan.format === 'squashfs' ? { compression: plan.compression } : {}),
    image,
    ...(verity ? { verity } : {}),
    extensionRelease: Object.fromEntries(plan.extensionRelease),
    inputs: plan.inputs.map(({ name, kind, version, url, sha256, pinnedBy }) => ({ name, kind, version, url, sha256, pinnedBy })),
    ...(plan.closure ? { debian: plan.closure.debs.map(({ name, version, url, sha256, pinnedBy }) => ({ package: name, version, url, sha256, pinnedBy })) } : {}),
    ...sourceOverrides(plan),
    tools,
    sourceDateEpoch: plan.sourceDateEpoch,
    files: serializeTree(tree),
  };
}

function sourceOverrides(plan: BuildPlan): Pick<BuildRecord, 'sourceOverrides'> {
  const names = overriddenNames(plan);
  return names.length ? { sourceOverrides: names } : {};
}

/** The sha256sum-format listing of the given records' images, sorted by file name. */
export function renderSha256Sums(records: readonly BuildRecord[]): string {
  return [...records]
    .sort((a, b) => (a.image.file < b.image.file ? -1 : 1))
    .map((r) => `${r.image.sha256}  ${r.image.file}\n`)
    .join('');
}

/**
 * dist/ holds exactly the images of the last build of an extension: removes the other
 * NAME-*.raw/.json files (SBOMs, NAME-*.spdx.json, included), then writes SHA256SUMS for what remains.
 */
export async function finishDist(distDir: string, name: string, records: readonly BuildRecord[]): Promise<void> {
  const keep = new Set(records.flatMap((r) => [r.image.file, r.image.file.replace(/\.raw$/, '.json'), ...(r.sbom ? [r.sbom.file] : [])]));
  for (const file of await readdir(distDir))
    if (file.startsWith(`${name}-`) && /\.(raw|json)$/.test(file) && !keep.has(file)) await rm(path.join(distDir, file), { force: true });
  await writeFileAtomic(path.join(distDir, 'SHA256SUMS'), renderSha256Sums(records));
}

/**
 * The build records in dist/: NAME-VERSION-ARCH.json, sorted. Other JSON files there (boot test
 * records NAME-VERSION-ARCH.test.json, SBOMs NAME-VERSION-ARCH.spdx.json) end in another suffix.
 */
export async function buildRecordFiles(distDir: string, name: string): Promise<string[]> {
  const arches = ARCHES.map((a) => a.replace('-', '\\-')).join('|');
  const pattern = new RegExp(`^${name.replace(/[.+]/g, '\\$&')}-.+-(${arches})\\.json$`);
  return (await readdir(distDir).catch(() => [] as string[])).filter((f) => pattern.test(f)).sort();
}

export async function readRecord(file: string): Promise<BuildRecord> {
  return JSON.parse(await readFile(file, 'utf8')) as BuildRecord;
}
