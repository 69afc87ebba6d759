import { collectBuiltImages, isPayloadExtension, publishPayloads, PublishError, type ImageRequirements, type PayloadImage, type PublishExtension } from '@bakehouse/publish';
import { readSigningKey } from '@bakehouse/payload';

export interface PublishPayloadFlags {
  out?: string;
  baseUrl?: string;
  payloadKey: string[];
  bzip2?: boolean;
}

/** publish --payloads: the release file server layout for Nebraska and first boot, instead of the sysupdate tree. */
export async function runPublishPayloads(extensions: readonly PublishExtension[], requirements: ImageRequirements, flags: PublishPayloadFlags): Promise<void> {
  if (!flags.out) throw new PublishError('--payloads writes flatcar/BOARD/VERSION/ into a directory: give --out DIR');
  if (flags.payloadKey.length === 0) throw new PublishError('--payloads needs --payload-key KEY.pem: the RSA-2048 key whose public half your Flatcar build carries as update-payload-key.pub.pem');
  if (!flags.baseUrl) throw new PublishError('--payloads needs --base-url URL, where --out is served: the Nebraska package and Omaha response point there');
  const keys = await Promise.all(flags.payloadKey.map(readSigningKey));
  const images: PayloadImage[] = [];
  for (const extension of extensions.filter((e) => isPayloadExtension(e.manifest)))
    for (const image of await collectBuiltImages(extension, requirements)) images.push({ manifest: extension.manifest, entry: image.entry, file: image.file });
  const result = await publishPayloads({ outDir: flags.out, images, keys, baseUrl: flags.baseUrl, bzip2: flags.bzip2 });
  for (const release of result.releases) {
    process.stdout.write(`${flags.out}/${release.dir}: ${release.payloads.join(', ')}\n`);
    if (!release.osPayload)
      process.stdout.write(`  no flatcar_production_update.gz here: put your OS update payload (signed with the same key) into ${release.dir}/ and run again for the Nebraska package and Omaha response\n`);
  }
  for (const file of result.written) process.stdout.write(`  wrote   ${file}\n`);
}
