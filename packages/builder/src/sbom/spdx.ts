import { createHash } from 'node:crypto';
import type { BuildRecord } from '../record.js';
import type { DeclaredLicense, ExtractedLicense } from './dep5.js';

/** The SBOM's file name next to NAME-VERSION-ARCH.raw. */
export function sbomFileName(imageName: string): string {
  return `${imageName}.spdx.json`;
}

/** The media type of an SPDX JSON document (IANA), used as the OCI artifact type too. */
export const SPDX_MEDIA_TYPE = 'application/spdx+json';

interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo: string;
  packageFileName?: string;
  downloadLocation: string;
  filesAnalyzed: false;
  checksums: { algorithm: 'SHA256'; checksumValue: string }[];
  licenseConcluded: string;
  licenseDeclared: string;
  copyrightText: string;
  comment?: string;
  externalRefs?: { referenceCategory: 'PACKAGE-MANAGER'; referenceType: 'purl'; referenceLocator: string }[];
}

export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: SpdxPackage[];
  hasExtractedLicensingInfos?: ExtractedLicense[];
  relationships: { spdxElementId: string; relationshipType: 'DESCRIBES' | 'CONTAINS' | 'GENERATED_FROM'; relatedSpdxElement: string }[];
}

export interface SbomFacts {
  /** The Debian architecture of each closure package (the lock's), "all" included. */
  debArchitectures: ReadonlyMap<string, string>;
  /** What each closure package's copyright file declares; absent: not machine-readable (NOASSERTION). */
  licenses: ReadonlyMap<string, DeclaredLicense>;
}

/**
 * The SPDX 2.3 document of one built image, from its build record (so the two cannot
 * disagree) and what the closure's copyright files declare. Pure and deterministic: the
 * creation time is the record's SOURCE_DATE_EPOCH and the namespace is named by the image's
 * sha256, so the same image always gets the same bytes, and another image another namespace.
 *
 * The image is the described package. It CONTAINS each Debian package (unpacked whole into the
 * closure prefix) and is GENERATED_FROM each upstream input (archives the build picks files
 * out of, not shipped themselves).
 */
export function createSbom(record: BuildRecord, facts: SbomFacts): SpdxDocument {
  const imageName = record.image.file.replace(/\.raw$/, '');
  const image: SpdxPackage = {
    SPDXID: 'SPDXRef-Image',
    name: record.name,
    versionInfo: record.version,
    packageFileName: record.image.file,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    checksums: [{ algorithm: 'SHA256', checksumValue: record.image.sha256 }],
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    comment: `systemd-sysext image (${record.format}) for ${record.arch}`,
  };
  const ids = new SpdxIds();
  const inputs = record.inputs.map((input): SpdxPackage => {
    const purl = inputPurl(input);
    return {
      SPDXID: ids.make('Input', input.name),
      name: input.name,
      versionInfo: input.version,
      packageFileName: decodeURIComponent(new URL(input.url).pathname.split('/').pop() || input.name),
      downloadLocation: input.url,
      filesAnalyzed: false,
      checksums: [{ algorithm: 'SHA256', checksumValue: input.sha256 }],
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      ...(input.pinnedBy === 'override' ? { comment: 'built from a source override, not the lock\'s pin' } : {}),
      ...(purl ? { externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER' as const, referenceType: 'purl' as const, referenceLocator: purl }] } : {}),
    };
  });
  const extracted = new Map<string, ExtractedLicense>();
  const debs = (record.debian ?? []).map((deb): SpdxPackage => {
    const architecture = facts.debArchitectures.get(deb.package);
    if (!architecture) throw new Error(`${record.name}: no Debian architecture known for ${deb.package}`);
    const license = facts.licenses.get(deb.package);
    for (const ref of license?.extracted ?? []) if (!extracted.has(ref.licenseId)) extracted.set(ref.licenseId, ref);
    return {
      SPDXID: ids.make('Deb', deb.package),
      name: deb.package,
      versionInfo: deb.version,
      packageFileName: decodeURIComponent(new URL(deb.url).pathname.split('/').pop() || deb.package),
      downloadLocation: deb.url,
      filesAnalyzed: false,
      checksums: [{ algorithm: 'SHA256', checksumValue: deb.sha256 }],
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: license?.expression ?? 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      ...(deb.pinnedBy === 'override' ? { comment: 'built from a source override, not the lock\'s pin' } : {}),
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: debPurl(deb.package, deb.version, architecture) }],
    };
  });
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: imageName,
    documentNamespace: `https://spdx.bakehouse.invalid/${encodeURIComponent(imageName)}-${namespaceUuid(record.image.sha256)}`,
    creationInfo: { created: spdxTimestamp(record.sourceDateEpoch), creators: ['Tool: bakehouse'] },
    packages: [image, ...inputs, ...debs],
    ...(extracted.size ? { hasExtractedLicensingInfos: [...extracted.values()].sort((a, b) => (a.licenseId < b.licenseId ? -1 : 1)) } : {}),
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: image.SPDXID },
      ...inputs.map((p) => ({ spdxElementId: image.SPDXID, relationshipType: 'GENERATED_FROM' as const, relatedSpdxElement: p.SPDXID })),
      ...debs.map((p) => ({ spdxElementId: image.SPDXID, relationshipType: 'CONTAINS' as const, relatedSpdxElement: p.SPDXID })),
    ],
  };
}

/** The document's bytes: two-space JSON with a final newline, keys in the order above. */
export function renderSbom(document: SpdxDocument): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** pkg:github/OWNER/REPO@TAG for GitHub release assets; pkg:generic/NAME@VERSION?download_url=… otherwise. */
export function inputPurl(input: { name: string; version: string; url: string }): string {
  const url = new URL(input.url);
  const github = url.hostname === 'github.com' ? /^\/([^/]+)\/([^/]+)\/releases\/download\/([^/]+)\//.exec(url.pathname) : null;
  if (github) return `pkg:github/${github[1]!.toLowerCase()}/${github[2]!.toLowerCase()}@${purlPart(decodeURIComponent(github[3]!))}`;
  return `pkg:generic/${purlPart(input.name)}@${purlPart(input.version)}?download_url=${encodeURIComponent(input.url)}`;
}

/** pkg:deb/debian/NAME@VERSION?arch=ARCH, as the purl spec's deb type has it. */
export function debPurl(name: string, version: string, architecture: string): string {
  return `pkg:deb/debian/${purlPart(name)}@${purlPart(version)}?arch=${purlPart(architecture)}`;
}

/** Percent-encoding as purl wants it: `+` as %2B, but the epoch's `:` kept. */
function purlPart(value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ':');
}

/** SPDX's created format: UTC to the second, no fraction. */
function spdxTimestamp(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A name-based (version 5 layout) UUID from the image's sha256: unique per image, the same for the same bytes. */
function namespaceUuid(imageSha256: string): string {
  const bytes = createHash('sha256').update(`bakehouse-sbom:${imageSha256}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** SPDX identifiers allow letters, digits, `.` and `-`; other characters become `-`, and a clash gets a counter. */
class SpdxIds {
  private readonly used = new Set<string>();
  make(kind: string, name: string): string {
    const base = `SPDXRef-${kind}-${name.replace(/\+/g, 'plus').replace(/[^A-Za-z0-9.-]/g, '-')}`;
    let id = base;
    for (let n = 2; this.used.has(id); n++) id = `${base}-${n}`;
    this.used.add(id);
    return id;
  }
}
