/** systemd-sysupdate transfer definitions for a published extension. */

/** How many versions a host keeps in /opt/extensions/EXT: the current one and one to roll back to. */
export const HOST_INSTANCES_MAX = 2;

export interface TransferOptions {
  extension: string;
  /** The tree's base URL, without a trailing slash. */
  baseUrl: string;
  /** A MAJOR.MINOR line: the transfer then follows only that line's patches. */
  line?: string;
}

/** The file name (without .transfer/.conf) of a transfer: EXT, or EXT-vLINE for a line. */
export function transferName(extension: string, line?: string): string {
  return line === undefined ? extension : `${extension}-v${line}`;
}

/**
 * The image name pattern. `@v` is the version wildcard and `%a` the architecture specifier (`@a`
 * would be the GPT NoAuto flag). For a line, the literal "LINE." prefix keeps other lines from
 * matching; the version sysupdate compares is then the patch part, which orders the same way.
 */
export function matchPattern(extension: string, line?: string): string {
  return line === undefined ? `${extension}-@v-%a.raw` : `${extension}-${line}.@v-%a.raw`;
}

/** The transfer text, identical for EXT.transfer (systemd >= 257) and EXT.conf (older). */
export function renderTransfer({ extension, baseUrl, line }: TransferOptions): string {
  const pattern = matchPattern(extension, line);
  return [
    `# ${line === undefined ? extension : `${extension} ${line}.x`}: published by bakehouse; install as /etc/sysupdate.${extension}.d/${transferName(extension, line)}.conf`,
    '[Transfer]',
    'Verify=yes',
    '',
    '[Source]',
    'Type=url-file',
    `Path=${baseUrl}/${extension}/`,
    `MatchPattern=${pattern}`,
    '',
    '[Target]',
    'Type=regular-file',
    `Path=/opt/extensions/${extension}`,
    `MatchPattern=${pattern}`,
    `CurrentSymlink=/etc/extensions/${extension}.raw`,
    `InstancesMax=${HOST_INSTANCES_MAX}`,
    '',
  ].join('\n');
}
