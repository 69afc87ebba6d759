import { PayloadError } from './errors.js';

/**
 * The names Flatcar's post-install step and initrd ask for: `oem-${OEMID}.gz` (OEMID is `ID=`
 * of /oem/oem-release) and `flatcar-${NAME}.gz` (NAME listed in enabled-sysext.conf). The image
 * is installed as oem-ID-VERSION.raw / flatcar-NAME-VERSION.raw and linked as
 * /etc/extensions/oem-ID.raw / flatcar-NAME.raw, so systemd-sysext needs
 * extension-release.oem-ID / extension-release.flatcar-NAME inside it.
 */
export const PAYLOAD_NAME_PATTERN = /^(oem|flatcar)-([a-z0-9][a-z0-9_-]*)$/;
export const PAYLOAD_SUFFIX = '.gz';

/** The payload file an extension or image named `name` is published as, or undefined when Flatcar never requests that name. */
export function payloadFileName(name: string): string | undefined {
  return PAYLOAD_NAME_PATTERN.test(name) ? `${name}${PAYLOAD_SUFFIX}` : undefined;
}

export interface ExtensionReleaseInfo {
  /** e.g. /usr/lib/extension-release.d/extension-release.flatcar-podman */
  releaseFile: string;
  extensionRelease: Record<string, string>;
}

/**
 * Refuses a payload name Flatcar would never request, or an image that would not merge under
 * it on the one OS version it is installed for. Returns that version (VERSION_ID).
 */
export function checkPayloadName(fileName: string, image: ExtensionReleaseInfo, flatcarVersion?: string): string {
  const stem = fileName.endsWith(PAYLOAD_SUFFIX) ? fileName.slice(0, -PAYLOAD_SUFFIX.length) : undefined;
  if (!stem || !PAYLOAD_NAME_PATTERN.test(stem))
    throw new PayloadError(`${fileName}: Flatcar's post-install step only requests oem-ID.gz (for the host's OEM ID) and flatcar-NAME.gz (for NAME in enabled-sysext.conf); name the output like -o flatcar-podman.gz`);
  const releaseName = image.releaseFile.split('/').pop()?.replace(/^extension-release\./, '');
  if (releaseName !== stem)
    throw new PayloadError(
      `${fileName}: the image's ${image.releaseFile} names it "${releaseName}", but hosts install this payload as /etc/extensions/${stem}.raw, which systemd-sysext merges only with extension-release.${stem}: build the extension as "${stem}", or name the payload ${releaseName}.gz`,
    );
  const release = image.extensionRelease;
  if (release.ID !== 'flatcar')
    throw new PayloadError(`${fileName}: the image's extension-release says ID=${release.ID ?? '(unset)'}; Flatcar's own payloads say ID=flatcar (manifest release.id "flatcar")`);
  const versionId = release.VERSION_ID;
  if (!versionId)
    throw new PayloadError(
      `${fileName}: the image has no VERSION_ID${release.SYSEXT_LEVEL ? ` (it says SYSEXT_LEVEL=${release.SYSEXT_LEVEL})` : ''}; a payload is installed for exactly one Flatcar release, so build it release-pinned (manifest release.compat "release")`,
    );
  if (flatcarVersion !== undefined && versionId !== flatcarVersion)
    throw new PayloadError(`${fileName}: the image is built for Flatcar ${versionId} (VERSION_ID), not ${flatcarVersion}: rebuild it with --flatcar-version ${flatcarVersion}`);
  return versionId;
}
