import { createHash } from 'node:crypto';

/** Flatcar's application id in Omaha and Nebraska. */
export const FLATCAR_APP_ID = 'e96281a6-d1af-4bde-9a0a-97b76e56dc57';
/** What update_engine downloads first; its own name on Flatcar's release server. */
export const OS_PAYLOAD_NAME = 'flatcar_production_update.gz';
/** Nebraska's package types and arch codes (backend/pkg/api). */
const NEBRASKA_TYPE_FLATCAR = 1;
const NEBRASKA_ARCH: Record<string, number> = { 'amd64-usr': 1, 'arm64-usr': 2 };
export const BOARDS = Object.keys(NEBRASKA_ARCH);

/** A file as Omaha and Nebraska describe it. */
export interface DescribedFile {
  name: string;
  size: number;
  /** SHA-1, base64: Omaha's `hash`, Nebraska's `hash`. */
  sha1: string;
  /** SHA-256, hex: Omaha's `hash_sha256`, Nebraska's `hash256`. */
  sha256: string;
  /** SHA-256, base64: the postinstall action's `sha256`. */
  sha256Base64: string;
}

export function describeFile(name: string, data: Buffer): DescribedFile {
  const sha256 = createHash('sha256').update(data).digest();
  return { name, size: data.length, sha1: createHash('sha1').update(data).digest('base64'), sha256: sha256.toString('hex'), sha256Base64: sha256.toString('base64') };
}

export interface ReleaseFiles {
  version: string;
  board: string;
  /** The directory the files are served from; a missing trailing "/" is added (see directoryUrl). */
  url: string;
  os: DescribedFile;
  extras: readonly DescribedFile[];
}

/**
 * ue-rs joins codebase and name WHATWG-style: without a trailing "/" the last path segment
 * is replaced, so extras 404 while the OS payload (update_engine appends "/") still downloads.
 */
export function directoryUrl(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

export function nebraskaArch(board: string): number {
  const arch = NEBRASKA_ARCH[board];
  if (arch === undefined) throw new Error(`board ${board}: Nebraska knows ${BOARDS.join(' and ')}`);
  return arch;
}

/**
 * The body of Nebraska's `POST /api/apps/{app}/packages`. Sizes are strings (Nebraska stores
 * them as text), and all four fields of every extra file are set: an extra file without
 * hash256 is skipped by ue-rs.
 */
export function nebraskaPackage(release: ReleaseFiles): Record<string, unknown> {
  return {
    application_id: FLATCAR_APP_ID,
    type: NEBRASKA_TYPE_FLATCAR,
    version: release.version,
    arch: nebraskaArch(release.board),
    url: directoryUrl(release.url),
    filename: release.os.name,
    description: `Flatcar ${release.version} (${release.board}) with ${release.extras.length} extra payload(s)`,
    size: String(release.os.size),
    hash: release.os.sha1,
    channels_blacklist: [],
    flatcar_action: { sha256: release.os.sha256Base64 },
    extra_files: release.extras.map((f) => ({ name: f.name, hash: f.sha1, hash256: f.sha256, size: String(f.size) })),
  };
}

/**
 * The Omaha update response a host receives for this release: the OS payload first (the
 * only package update_engine downloads), then each extra file with required="false", which
 * flatcar-postinst hands to ue-rs.
 */
export function omahaResponse(release: ReleaseFiles): string {
  const pkg = (f: DescribedFile, required: boolean, sha256 = true) =>
    `          <package name="${xml(f.name)}" hash="${xml(f.sha1)}"${sha256 ? ` hash_sha256="${f.sha256}"` : ''} size="${f.size}" required="${required}"></package>\n`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<response protocol="3.0" server="nebraska">\n` +
    `  <daystart elapsed_seconds="0"></daystart>\n` +
    `  <app appid="${FLATCAR_APP_ID}" status="ok">\n` +
    `    <ping status="ok"></ping>\n` +
    `    <updatecheck status="ok">\n` +
    `      <urls>\n        <url codebase="${xml(directoryUrl(release.url))}"></url>\n      </urls>\n` +
    `      <manifest version="${xml(release.version)}">\n        <packages>\n` +
    pkg(release.os, true, false) +
    release.extras.map((f) => pkg(f, false)).join('') +
    `        </packages>\n        <actions>\n` +
    `          <action event="postinstall" sha256="${release.os.sha256Base64}" DisablePayloadBackoff="true"></action>\n` +
    `        </actions>\n      </manifest>\n    </updatecheck>\n    <event status="ok"></event>\n  </app>\n</response>\n`
  );
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
