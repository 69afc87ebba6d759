import { ensureRoot, type RootSpec } from '@bakehouse/rootfs';

/**
 * systemd-repart --make-ddi needs systemd ≥ 255, newer than many build hosts (Debian 12 has 252).
 * It runs from this Debian trixie root instead, built once with mmdebstrap and cached by the
 * hash of this spec. mkfs.erofs makes the root partition, libcryptsetup the verity hash tree,
 * OpenSSL (libssl, pulled in by systemd) the signature.
 */
export function ddiToolsRoot(cacheDir: string, log?: (message: string) => void): Promise<string> {
  return ensureRoot(DDI_TOOLS_ROOT(cacheDir), { log });
}

const DDI_TOOLS_ROOT = (cacheDir: string): RootSpec => ({
  name: 'ddi-tools',
  suite: 'trixie',
  packages: ['systemd-repart', 'erofs-utils', 'cryptsetup-bin', 'libcryptsetup12', 'openssl'],
  cacheDir,
});
