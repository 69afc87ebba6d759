import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { createSigningKey } from '../gpg.js';

/** A throw-away GNUPGHOME holding one fresh ed25519 signing key. */
export async function testKeyring(userId = 'Bakehouse test <test@bakehouse.invalid>') {
  const home = await mkdtemp(path.join(os.tmpdir(), 'bh-gpg-'));
  await chmod(home, 0o700);
  const fingerprint = await createSigningKey({ gnupgHome: home, userId });
  return {
    home,
    fingerprint,
    close: async () => {
      await execa('gpgconf', ['--homedir', home, '--kill', 'all'], { reject: false });
      await rm(home, { recursive: true, force: true });
    },
  };
}
