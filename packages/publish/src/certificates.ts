import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ReleaseIndex, ReleaseIndexImage, ReleaseIndexVerityCertificate } from '@bakehouse/schema';
import { PublishError } from './errors.js';
import type { TreeSource } from './files.js';
import type { BuiltImageFile } from './images.js';

/** Where hosts look for the certificates that signed DDIs must verify against (systemd's verity.d). */
export const HOST_VERITY_DIR = '/etc/verity.d';

/** A certificate to publish: its index entry and its PEM bytes. */
export interface PublishedCertificate {
  entry: ReleaseIndexVerityCertificate;
  pem: Buffer;
}

/**
 * The tree (and a host's /etc/verity.d) names a certificate by its fingerprint, so certificates
 * of a key rotation sit side by side and the same certificate always gets the same name.
 */
export function certificateFileName(certificateSha256: string): string {
  return `bakehouse-verity-${certificateSha256.slice(0, 16)}.crt`;
}

/** Reads a PEM or DER certificate and normalises it to PEM, so the published bytes depend only on the certificate. */
export async function readVerityCertificate(file: string): Promise<PublishedCertificate> {
  const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new PublishError(`the verity certificate ${file} cannot be read (${error.code ?? error.message}): pass the --sign-cert file the images were built with`);
  });
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(bytes);
  } catch (error) {
    throw new PublishError(`the verity certificate ${file} is not an X.509 certificate in PEM or DER (${(error as Error).message}): pass the --sign-cert file the images were built with`);
  }
  return fromCertificate(certificate);
}

function fromCertificate(certificate: X509Certificate): PublishedCertificate {
  const certificateSha256 = sha256(certificate.raw);
  const pem = Buffer.from(certificate.toString());
  return { entry: { path: certificateFileName(certificateSha256), sha256: sha256(pem), certificateSha256 }, pem };
}

/**
 * Every signed DDI about to be published must name the certificate publishing was given:
 * hosts enforcing `verity+signed` would refuse an image whose certificate the tree does not carry.
 * Checked before anything is written.
 */
export function checkBuiltCertificates(built: readonly BuiltImageFile[], certificate: PublishedCertificate | undefined, certificateFile: string | undefined): void {
  for (const { entry } of built) {
    if (!entry.verity) continue;
    if (!certificate || !certificateFile)
      throw new PublishError(
        `${entry.path} is a signed DDI: publishing needs the certificate it was signed with, so hosts can trust it from ${HOST_VERITY_DIR}. ` +
          `Pass --verity-cert FILE (or set BAKEHOUSE_SIGN_CERT), the --sign-cert it was built with (certificate sha256 ${entry.verity.certificateSha256})`,
      );
    if (entry.verity.certificateSha256 !== certificate.entry.certificateSha256)
      throw new PublishError(
        `${entry.path} was signed with the certificate whose sha256 is ${entry.verity.certificateSha256}, but the verity certificate ${certificateFile} is ${certificate.entry.certificateSha256}. ` +
          `Pass the --sign-cert the image was built with, or rebuild it with this certificate's key (bakehouse build ${entry.extension} --sign-key KEY --sign-cert ${certificateFile})`,
      );
  }
}

/**
 * The certificates the retained DDIs need, sorted by path: the given one, and for images kept
 * from the previous tree, the previous tree's copies (read and checked, never trusted blindly).
 */
export async function certificatesFor(
  images: readonly ReleaseIndexImage[],
  given: PublishedCertificate | undefined,
  previous: ReleaseIndex | undefined,
  previousSource: TreeSource | undefined,
): Promise<PublishedCertificate[]> {
  const needed = [...new Set(images.flatMap((i) => (i.verity ? [i.verity.certificateSha256] : [])))].sort();
  const certificates: PublishedCertificate[] = [];
  for (const certificateSha256 of needed) {
    if (given?.entry.certificateSha256 === certificateSha256) {
      certificates.push(given);
      continue;
    }
    const user = images.find((i) => i.verity?.certificateSha256 === certificateSha256)!;
    const entry = previous?.verityCertificates?.find((c) => c.certificateSha256 === certificateSha256);
    const where = `${previousSource?.location ?? 'the previous tree'}`;
    const bytes = entry ? await previousSource?.read(entry.path) : undefined;
    if (!entry || !bytes)
      throw new PublishError(
        `${user.path} is kept from ${where}, but neither that tree nor --verity-cert holds its certificate (sha256 ${certificateSha256}): pass that certificate with --verity-cert`,
      );
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(bytes);
    } catch {
      throw new PublishError(`${where}/${entry.path} is not an X.509 certificate: repair the previous tree or pass the certificate with --verity-cert`);
    }
    if (sha256(bytes) !== entry.sha256 || sha256(certificate.raw) !== certificateSha256 || entry.path !== certificateFileName(certificateSha256))
      throw new PublishError(`${where}/${entry.path} does not match its index.json entry (sha256 ${entry.sha256}, certificate ${certificateSha256}): repair the previous tree or pass the certificate with --verity-cert`);
    certificates.push({ entry, pem: bytes });
  }
  return certificates.sort((a, b) => (a.entry.path < b.entry.path ? -1 : a.entry.path > b.entry.path ? 1 : 0));
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
