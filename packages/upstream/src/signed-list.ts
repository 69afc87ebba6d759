import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { UpstreamError } from './errors.js';

export interface SignedList {
  /** The list's bytes as served, and where it was read from. */
  bytes: Buffer;
  url: string;
  signature: Buffer;
  signatureUrl: string;
}

const ARMOR = '-----BEGIN PGP PUBLIC KEY BLOCK-----';

/**
 * Checks the list's detached signature with gpgv against the key file alone. Both run in a
 * throw-away home directory, so neither the user's keyring nor their trustedkeys.kbx can make a
 * signature pass. gpgv reads binary keyrings only: an armored key is dearmored first.
 * `keyFile` is named in errors as `keyShownAs` (the path relative to the workspace).
 */
export async function verifySignedList(list: SignedList, keyFile: string, keyShownAs: string): Promise<void> {
  const key = await readFile(keyFile).catch((error: NodeJS.ErrnoException) => {
    throw new UpstreamError(list.url, `the public key ${keyShownAs} for ${list.url} cannot be read (${error.code ?? error.message}): add the signer's public key file there`);
  });
  const home = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-gpgv-'));
  try {
    await chmod(home, 0o700);
    const keyring = path.join(home, 'keyring.gpg');
    if (key.toString('latin1', 0, 200).includes(ARMOR)) {
      const dearmored = await execa('gpg', ['--homedir', home, '--batch', '--no-tty', '--dearmor'], { input: key, encoding: 'buffer', stripFinalNewline: false, reject: false });
      if (dearmored.exitCode !== 0 || dearmored.stdout.length === 0)
        throw new UpstreamError(list.url, `${keyShownAs} is not an OpenPGP public key: gpg --dearmor said ${Buffer.from(dearmored.stderr).toString().trim() || `exit status ${dearmored.exitCode}`}`);
      await writeFile(keyring, dearmored.stdout);
    } else await writeFile(keyring, key);
    const listFile = path.join(home, 'list');
    const signatureFile = path.join(home, 'list.sig');
    await writeFile(listFile, list.bytes);
    await writeFile(signatureFile, list.signature);
    const result = await execa('gpgv', ['--homedir', home, '--keyring', keyring, '--status-fd', '1', signatureFile, listFile], { reject: false, all: true });
    // VALIDSIG is gpgv's own word that the signature is good and made by a key it holds.
    if (result.exitCode !== 0 || !/^\[GNUPG:\] VALIDSIG /m.test(result.stdout)) {
      const said = result.stderr.split('\n').filter((line) => line.trim() && !/^gpgv: (Signature made|\s+using)/.test(line)).join('; ');
      throw new UpstreamError(
        list.url,
        `${list.url} is not signed by a key in ${keyShownAs}: gpgv refused ${list.signatureUrl} (${said || `exit status ${result.exitCode}`}). ` +
          'The list was altered, the signature belongs to another file, or the key file is not the signer\'s: nothing was pinned.',
      );
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
