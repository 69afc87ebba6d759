import path from 'node:path';
import { Version } from '@bakehouse/schema';
import { TorcxError } from './errors.js';

/** What a Torcx file name says: `NAME:REF.torcx.tgz`, as Flatcar's build_torcx_store names its images. */
export interface TorcxImageName {
  /** The file name as given, for messages. */
  file: string;
  /** The Torcx image name, e.g. "docker". */
  name: string;
  /** The reference after the colon, e.g. "20.10" or "com.coreos.cl"; undefined without a colon. */
  reference: string | undefined;
}

const SUFFIX = /\.torcx\.(tgz|tar\.gz)$/;
/** Extension names: what the schema accepts for `name`. */
const EXTENSION_NAME = /^[a-z0-9][a-z0-9-]*$/;

export function parseTorcxFileName(file: string): TorcxImageName {
  const base = path.basename(file);
  if (!SUFFIX.test(base)) throw new TorcxError(`${base}: expected a Torcx image named NAME:REF.torcx.tgz (a gzip tar, as Flatcar's torcx store holds them)`);
  const stem = base.replace(SUFFIX, '');
  const colon = stem.indexOf(':');
  return colon === -1 ? { file: base, name: stem, reference: undefined } : { file: base, name: stem.slice(0, colon), reference: stem.slice(colon + 1) };
}

/** The extension name: --name, or the Torcx name when it is a valid one. */
export function extensionName(image: TorcxImageName, override: string | undefined): string {
  const name = override ?? image.name;
  if (EXTENSION_NAME.test(name)) return name;
  const suggestion = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'converted';
  throw new TorcxError(
    `${image.file}: "${name}" cannot name an extension (lowercase letters, digits and "-", starting with a letter or digit); pass --name, e.g. --name ${suggestion}`,
  );
}

/** The image version: --version, or the Torcx reference when it is a version systemd can compare. */
export function imageVersionOf(image: TorcxImageName, override: string | undefined): string {
  const version = override ?? image.reference;
  if (version !== undefined && Version.safeParse(version).success) return version;
  const why = version === undefined ? 'has no reference after a colon' : `has the reference "${version}", which is not a version (it must start with a digit and hold no "-")`;
  throw new TorcxError(`${image.file} ${why}: pass --version, e.g. --version 20.10.24`);
}
