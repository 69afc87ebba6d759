/**
 * An image version from a Debian package version: the epoch goes (it only orders Debian's own
 * history), and "-" becomes "." because image names use "-" to separate NAME, VERSION and ARCH.
 * 1:5.4.2+ds1-2+b2 → 5.4.2+ds1.2+b2: systemd's version comparison still orders rebuilds upward.
 */
export function debianImageVersion(debianVersion: string): string {
  return debianVersion.replace(/^\d+:/, '').replaceAll('-', '.');
}
