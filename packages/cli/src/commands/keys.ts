import { writeFile } from 'node:fs/promises';
import { createSigningKey, exportPublicKey, openSigner, type KeyAlgorithm } from '@bakehouse/publish';

export async function runKeysInit(flags: { name: string; email: string; algorithm: KeyAlgorithm; gnupgHome?: string }): Promise<void> {
  const fingerprint = await createSigningKey({ gnupgHome: flags.gnupgHome, userId: `${flags.name} <${flags.email}>`, algorithm: flags.algorithm });
  process.stdout.write(
    `${fingerprint}\ncreated a ${flags.algorithm} signing key without a passphrase (for unattended publishing): guard the keyring, ` +
      'or export it with gpg --armor --export-secret-keys and keep it in BAKEHOUSE_SIGNING_KEY of your CI secrets\n',
  );
}

export async function runKeysExport(flags: { keyId?: string; gnupgHome?: string; armor?: boolean; output?: string }): Promise<void> {
  let keyId = flags.keyId;
  if (!keyId) {
    // The same rule as signing: the keyring's only secret key.
    const signer = await openSigner({ gnupgHome: flags.gnupgHome });
    await signer.close();
    keyId = signer.fingerprint;
  }
  const key = await exportPublicKey({ gnupgHome: flags.gnupgHome, keyId, armor: flags.armor });
  if (flags.output) await writeFile(flags.output, key);
  else process.stdout.write(key);
}
