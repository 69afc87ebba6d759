import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PayloadError } from './errors.js';

/** update_engine and ue-rs check RSA-2048 PKCS#1 v1.5 signatures; any other key makes payloads no host accepts. */
const MODULUS_BITS = 2048;

export async function readSigningKey(file: string): Promise<KeyObject> {
  const pem = await readFile(file).catch((error: Error) => {
    throw new PayloadError(`--key ${file}: ${error.message}`);
  });
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new PayloadError(`--key ${file}: not a PEM private key (${(error as Error).message}); create one with: openssl genrsa -out ${file} 2048`);
  }
  checkRsa2048(key, `--key ${file}`);
  return key;
}

/** `option` names where the file came from in messages (--pub, --update-key). */
export async function readPublicKey(file: string, option = '--pub'): Promise<KeyObject> {
  const pem = await readFile(file).catch((error: Error) => {
    throw new PayloadError(`${option} ${file}: ${error.message}`);
  });
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new PayloadError(`${option} ${file}: not a PEM public key (${(error as Error).message}); the host's key is /usr/share/update_engine/update-payload-key.pub.pem`);
  }
  checkRsa2048(key, `${option} ${file}`);
  return key;
}

function checkRsa2048(key: KeyObject, what: string): void {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType !== 'rsa' || bits !== MODULUS_BITS)
    throw new PayloadError(
      `${what}: a key of type ${key.asymmetricKeyType ?? 'unknown'}${bits ? ` with ${bits} bits` : ''}; Flatcar's update_engine and ue-rs verify only RSA-2048 (PKCS#1 v1.5, SHA-256): openssl genrsa -out KEY.pem 2048`,
    );
}
