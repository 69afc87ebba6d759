import type { LockedDeb } from '@bakehouse/schema';
import { ClosureResolutionError } from './errors.js';

/** 'URL' FILENAME SIZE SHA256:HEX — what `apt-get install --print-uris` prints per .deb with Acquire::ForceHash=SHA256. */
const URI_LINE = /^'([^']+)' (\S+) (\d+) (\S+)$/;
/** FILENAME is PACKAGE_VERSION_ARCH.deb: none of the three may contain "_", and apt escapes the epoch's ":" as %3a. */
const DEB_FILE_NAME = /^([^_]+)_([^_]+)_([^_]+)\.deb$/;

/** Reads apt's --print-uris answer, sorted by package name. Lines that are not about a .deb (apt's summary) are skipped. */
export function parsePrintUris(output: string): LockedDeb[] {
  const debs: LockedDeb[] = [];
  for (const line of output.split('\n')) {
    const uri = URI_LINE.exec(line.trim());
    if (!uri) continue;
    const [, url, fileName, size, hash] = uri as unknown as [string, string, string, string, string];
    const name = DEB_FILE_NAME.exec(fileName);
    if (!name) throw new ClosureResolutionError(`apt printed "${fileName}" for ${url}, which is not a PACKAGE_VERSION_ARCH.deb file name`);
    const sha256 = /^SHA256:([0-9a-f]{64})$/i.exec(hash)?.[1];
    if (sha256 === undefined) throw new ClosureResolutionError(`apt printed "${hash}" for ${url} instead of a SHA256 sum (is Acquire::ForceHash=SHA256 set, and does the index carry SHA256?)`);
    debs.push({
      package: name[1]!,
      version: decodeURIComponent(name[2]!),
      architecture: name[3]!,
      url,
      sha256: sha256.toLowerCase(),
      size: Number(size),
    });
  }
  return debs.sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : 0));
}
