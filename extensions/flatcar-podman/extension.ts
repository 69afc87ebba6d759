import { defineExtension } from '@bakehouse/schema';
import podman from '../podman/extension.ts';

/**
 * The podman extension's contents under the name Flatcar's post-install step requests
 * (flatcar-NAME, with NAME listed in /etc/flatcar/enabled-sysext.conf), pinned to one Flatcar
 * release: `bakehouse publish --payloads` signs it as flatcar/BOARD/VERSION/flatcar-podman.gz for
 * Flatcar builds that carry the operator's own update key. Everything else is podman's manifest
 * and files (this package depends on podman's, so Turbo rebuilds it when they change), and both
 * share one set of Debian pins.
 */
export default defineExtension({
  ...podman,
  name: 'flatcar-podman',
  description: 'podman with crun, conmon, netavark, aardvark-dns, passt, fuse-overlayfs and catatonit, from Debian, as a release-pinned flatcar-podman update payload',
  files: '../podman/files',
  // The declaration that makes this a payload: the flatcar- name, and VERSION_ID of the one Flatcar release (flatcar.json) it is for.
  release: {
    id: 'flatcar',
    compat: 'release',
    reloadManager: true,
    extra: { SYSEXT_ID: 'flatcar-podman', SYSEXT_NAME: 'Podman (Debian trixie)', SYSEXT_VERSION_ID: '{flatcarVersion}' },
  },
  // The same files as the podman extension: a host merges one of the two.
  conflicts: { extensions: ['podman'] },
});
