import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { inspectImage } from '@bakehouse/builder';
import { buildPayload, checkPayloadName, OPERATION_TYPE, PayloadError, readPublicKey, readSigningKey, verifyPayload, writeFileAtomically } from '@bakehouse/payload';

/** Said in --help and in the package README: who can use these payloads at all. */
export const PAYLOAD_TRUST_MODEL =
  'Trust model: a Flatcar host installs a payload only if it verifies against the update key inside its own image ' +
  '(/usr/share/update_engine/update-payload-key.pub.pem). On stock Flatcar that is Flatcar\'s official key, so payloads ' +
  'signed here serve (a) operators who build their own Flatcar with their own update key and (b) air-gapped sites that ' +
  'mirror Flatcar\'s official payloads (bakehouse mirror flatcar). On stock Flatcar, third-party extensions update ' +
  'through systemd-sysupdate instead (bakehouse publish --out).';

export interface PayloadBuildFlags {
  key: string[];
  bzip2?: boolean;
  output: string;
  flatcarVersion?: string;
}

/** Signs an image as the payload Flatcar's post-install step requests under the output's name. */
export async function runPayloadBuild(image: string, flags: PayloadBuildFlags): Promise<void> {
  const name = path.basename(flags.output);
  const info = await inspectImage(image);
  const version = checkPayloadName(name, info, flags.flatcarVersion);
  const keys = await Promise.all(flags.key.map(readSigningKey));
  const payload = await buildPayload(await readFile(image), { keys, bzip2: flags.bzip2 });
  await writeFileAtomically(flags.output, payload);
  process.stdout.write(`${flags.output}: payload of ${image} for Flatcar ${version}, ${payload.length} bytes, signed with ${keys.length} key(s)\n`);
}

export interface PayloadVerifyFlags {
  pub: string;
  output?: string;
  json?: boolean;
}

/** The host's checks, in its order; with -o, writes the extracted image only when all pass. */
export async function runPayloadVerify(file: string, flags: PayloadVerifyFlags): Promise<void> {
  const key = await readPublicKey(flags.pub);
  const payload = await readFile(file).catch((error: Error) => {
    throw new PayloadError(`${file}: ${error.message}`);
  });
  const result = await verifyPayload(payload, [key], file);
  if (flags.output) await writeFileAtomically(flags.output, result.image);
  const operations = result.manifest.partition_operations;
  const compressed = operations.filter((op) => op.type === OPERATION_TYPE.REPLACE_BZ).length;
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ file, signatures: result.verifiedSignatures, operations: operations.length, bzip2: compressed, imageBytes: result.image.length, sha256: result.sha256 }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `${file}: OK\n` +
      `  signature   version ${result.verifiedSignatures.join(', ')} verifies with ${flags.pub}\n` +
      `  operations  ${operations.length} (${compressed} bzip2), one extent each, every blob matches its sha256\n` +
      `  image       ${result.image.length} bytes, sha256 ${result.sha256}${flags.output ? ` -> ${flags.output}` : ''}\n`,
  );
}
