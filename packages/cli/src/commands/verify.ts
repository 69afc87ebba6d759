import { verifyDdi } from '@bakehouse/builder';

/** Offline check of a signed DDI: verity data, signature by the given certificate, extension-release. */
export async function runVerify(image: string, flags: { cert: string; json?: boolean }): Promise<void> {
  const result = await verifyDdi(image, flags.cert);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `${image}: OK\n` +
      `  extension   ${result.name} (${result.arch})\n` +
      `  root hash   ${result.rootHash} (matches the data)\n` +
      `  signed by   ${flags.cert} (sha256 ${result.certificateSha256})\n`,
  );
}
