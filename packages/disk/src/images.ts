import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { inspectImage, readGpt, verifyDdi, type ImageInfo } from '@bakehouse/builder';
import { readVerityCertificate, type PublishedCertificate } from '@bakehouse/publish';
import { BakeError } from './errors.js';
import { readRange } from './layout.js';

/** An extension image, read from the image itself (never from its file name). */
export interface ExtensionImage {
  file: string;
  /** The NAME of usr/lib/extension-release.d/extension-release.NAME: what systemd-sysext matches. */
  name: string;
  format: 'squashfs' | 'erofs' | 'ddi';
  /** systemd's architecture name (x86-64, arm64); undefined for an image for any architecture. */
  arch: string | undefined;
  extensionRelease: Record<string, string>;
  /** Signed DDIs: the certificate they verified against, to install into /etc/verity.d. */
  verityCertificate?: PublishedCertificate;
  /** OEM images (oem-ID): their /usr/share/oem/NAME/oem-release, which becomes /oem/oem-release. */
  oemRelease?: Buffer;
}

/** Reads an image: squashfs and erofs with their own tools, signed DDIs verified against `verityCert` first. */
export async function readExtensionImage(file: string, verityCert: string | undefined): Promise<ExtensionImage> {
  const isDdi = (await readRange(file, 512, 8).catch(() => Buffer.alloc(0))).toString('latin1') === 'EFI PART';
  if (isDdi) {
    if (!verityCert) throw new BakeError(`${file} is a signed DDI: pass --verity-cert FILE, the certificate it was signed with (build --sign-cert), so it is checked and installed into /etc/verity.d`);
    await readGpt(file);
    const verified = await verifyDdi(file, verityCert);
    const image: ExtensionImage = { file, name: verified.name, format: 'ddi', arch: verified.extensionRelease.ARCHITECTURE ?? verified.arch, extensionRelease: verified.extensionRelease, verityCertificate: await readVerityCertificate(verityCert) };
    if (image.name.startsWith('oem-')) throw new BakeError(`${file}: OEM images are installed the way Flatcar does (/oem/sysext), as squashfs or erofs; build ${image.name} without --sign-key`);
    return image;
  }
  let info: ImageInfo;
  try {
    info = await inspectImage(file);
  } catch (error) {
    throw new BakeError(`${file} is not an extension image: ${(error as Error).message}`);
  }
  const name = info.releaseFile.replace(/^.*\/extension-release\./, '');
  const image: ExtensionImage = { file, name, format: info.format, arch: info.extensionRelease.ARCHITECTURE, extensionRelease: info.extensionRelease };
  if (name.startsWith('oem-')) image.oemRelease = await readOemRelease(file, info, name);
  return image;
}

async function readOemRelease(file: string, info: ImageInfo, name: string): Promise<Buffer> {
  const inImage = `usr/share/oem/${name}/oem-release`;
  if (!info.files.some((f) => f.path.replace(/^\//, '') === inImage))
    throw new BakeError(`${file}: the OEM image ${name} has no /${inImage}, which Flatcar needs as /oem/oem-release (ID=${name.slice(4)}); add it to the extension's files/`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-oem-release-'));
  try {
    const out = path.join(dir, 'root');
    if (info.format === 'squashfs') await execa('unsquashfs', ['-no-progress', '-quiet', '-d', out, file, inImage]);
    else await execa('fsck.erofs', [`--extract=${out}`, file]);
    return await readFile(path.join(out, inImage));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
