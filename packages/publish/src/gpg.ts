import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { SigningError } from './errors.js';

/** The variable holding an armored secret key, for CI where no keyring exists. */
export const SIGNING_KEY_ENV = 'BAKEHOUSE_SIGNING_KEY';

export type KeyAlgorithm = 'ed25519' | 'rsa4096';

// Keys made for automation have no passphrase; loopback pinentry with an empty passphrase never prompts.
const BATCH = ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', ''];

async function gpg(home: string | undefined, args: readonly string[], input?: string | Buffer) {
  const result = await execa('gpg', [...(home ? ['--homedir', home] : []), ...BATCH, ...args], {
    reject: false,
    encoding: 'buffer',
    // Exported keys and signatures are binary: a last byte that happens to be "\n" is data.
    stripFinalNewline: false,
    ...(input === undefined ? {} : { input }),
  });
  if (result.exitCode !== 0) throw new SigningError(`gpg ${args.filter((a) => a !== '').join(' ')} failed: ${Buffer.from(result.stderr).toString().trim()}`);
  return { stdout: Buffer.from(result.stdout), stderr: Buffer.from(result.stderr).toString() };
}

/** Fingerprints of the secret keys in a keyring (`--with-colons` "fpr" records following "sec"). */
async function secretFingerprints(home: string | undefined): Promise<string[]> {
  const { stdout } = await gpg(home, ['--with-colons', '--list-secret-keys']);
  const lines = stdout.toString().split('\n');
  const result: string[] = [];
  lines.forEach((line, i) => {
    if (line.startsWith('sec:')) {
      const fpr = lines.slice(i + 1).find((l) => l.startsWith('fpr:'));
      if (fpr) result.push(fpr.split(':')[9]!);
    }
  });
  return result;
}

/** Creates a signing-only key without a passphrase (for unattended publishing) and returns its fingerprint. */
export async function createSigningKey(options: { gnupgHome?: string; userId: string; algorithm?: KeyAlgorithm }): Promise<string> {
  const before = new Set(await secretFingerprints(options.gnupgHome));
  await gpg(options.gnupgHome, ['--quick-generate-key', options.userId, options.algorithm ?? 'ed25519', 'sign', 'never']);
  const created = (await secretFingerprints(options.gnupgHome)).filter((f) => !before.has(f));
  if (created.length !== 1) throw new SigningError(`gpg created ${created.length} keys for "${options.userId}"; expected one`);
  return created[0]!;
}

/** The public key, armored (.asc) or as a binary keyring usable as /etc/systemd/import-pubring.gpg. Minimal, so repeated exports are identical. */
export async function exportPublicKey(options: { gnupgHome?: string; keyId: string; armor?: boolean }): Promise<Buffer> {
  const { stdout } = await gpg(options.gnupgHome, [...(options.armor ? ['--armor'] : []), '--export-options', 'export-minimal', '--export', options.keyId]);
  if (stdout.length === 0) throw new SigningError(`no public key "${options.keyId}" in ${options.gnupgHome ?? 'the default keyring'}: create one with bakehouse keys init`);
  return stdout;
}

export interface Signer {
  fingerprint: string;
  /** Writes a binary detached signature of `file` to `signatureFile`. */
  sign(file: string, signatureFile: string): Promise<void>;
  publicKey(armor: boolean): Promise<Buffer>;
  /** Removes the throw-away keyring, if one was made. */
  close(): Promise<void>;
}

export interface SignerOptions {
  /** A key id or fingerprint; needed when the keyring holds more than one secret key. */
  keyId?: string;
  gnupgHome?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The key comes from $BAKEHOUSE_SIGNING_KEY (an armored secret key, imported into a throw-away
 * keyring removed by close()) or else from the keyring (--gnupg-home, $GNUPGHOME or ~/.gnupg).
 */
export async function openSigner(options: SignerOptions = {}): Promise<Signer> {
  const env = options.env ?? process.env;
  const armored = env[SIGNING_KEY_ENV];
  let home = options.gnupgHome ?? env.GNUPGHOME;
  let temporary: string | undefined;
  if (armored) {
    temporary = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-gnupg-'));
    await chmod(temporary, 0o700);
    home = temporary;
    try {
      await gpg(home, ['--import'], armored);
    } catch (error) {
      await removeKeyring(temporary);
      throw new SigningError(`${SIGNING_KEY_ENV} does not hold an importable secret key (export one with gpg --armor --export-secret-keys KEY): ${(error as Error).message}`);
    }
  }
  const close = () => (temporary ? removeKeyring(temporary) : Promise.resolve());
  try {
    const keys = await secretFingerprints(home);
    const where = armored ? SIGNING_KEY_ENV : (home ?? '~/.gnupg');
    let fingerprint: string;
    if (options.keyId) {
      const wanted = options.keyId.replace(/^0x/i, '').toUpperCase();
      const found = keys.find((k) => k.endsWith(wanted));
      if (!found) throw new SigningError(`no secret key ${options.keyId} in ${where}; available: ${keys.join(', ') || '(none)'}`);
      fingerprint = found;
    } else if (keys.length === 1) fingerprint = keys[0]!;
    else if (keys.length === 0) throw new SigningError(`no secret key in ${where}: run bakehouse keys init, or set ${SIGNING_KEY_ENV} to an armored secret key`);
    else throw new SigningError(`${where} holds ${keys.length} secret keys (${keys.join(', ')}): choose one with --key-id`);
    return {
      fingerprint,
      sign: async (file, signatureFile) => {
        await gpg(home, ['--yes', '--local-user', `${fingerprint}!`, '--detach-sign', '--output', signatureFile, file]);
      },
      publicKey: (armor) => exportPublicKey({ gnupgHome: home, keyId: fingerprint, armor }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function removeKeyring(home: string): Promise<void> {
  await execa('gpgconf', ['--homedir', home, '--kill', 'all'], { reject: false });
  await rm(home, { recursive: true, force: true });
}

/** True when `signatureFile` is a good signature of `file` by a key in `keyring` (a binary public keyring). */
export async function checkSignature(keyring: string, file: string, signatureFile: string): Promise<boolean> {
  return (await signatureProblem(keyring, file, signatureFile)) === undefined;
}

/** undefined when `signatureFile` is a good signature of `file` by a key in `keyring`; else what gpgv said. */
export async function signatureProblem(keyring: string, file: string, signatureFile: string): Promise<string | undefined> {
  const result = await execa('gpgv', ['--keyring', path.resolve(keyring), signatureFile, file], { reject: false, all: true });
  return result.exitCode === 0 ? undefined : (result.all ?? '').trim().split('\n').filter((l) => !/^gpgv: (Signature made|\s+using)/.test(l)).join('; ') || `gpgv exited with status ${result.exitCode}`;
}
