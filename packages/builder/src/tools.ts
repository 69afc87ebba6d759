import { execa } from 'execa';

/** A host program the builder shells out to, and how an operator gets it. */
export interface HostTool {
  command: string;
  debianPackage: string;
  versionArgs: string[];
  purpose: string;
}

export const HOST_TOOLS = {
  mksquashfs: { command: 'mksquashfs', debianPackage: 'squashfs-tools', versionArgs: ['-version'], purpose: 'make squashfs images' },
  unsquashfs: { command: 'unsquashfs', debianPackage: 'squashfs-tools', versionArgs: ['-version'], purpose: 'inspect squashfs images' },
  'mkfs.erofs': { command: 'mkfs.erofs', debianPackage: 'erofs-utils', versionArgs: ['-V'], purpose: 'make erofs images' },
  'fsck.erofs': { command: 'fsck.erofs', debianPackage: 'erofs-utils', versionArgs: ['-V'], purpose: 'inspect erofs images' },
  xz: { command: 'xz', debianPackage: 'xz-utils', versionArgs: ['--version'], purpose: 'unpack tar.xz inputs' },
  zstd: { command: 'zstd', debianPackage: 'zstd', versionArgs: ['--version'], purpose: 'unpack tar.zst inputs' },
  'systemd-sysext': { command: 'systemd-sysext', debianPackage: 'systemd', versionArgs: ['--version'], purpose: 'merge images in tests' },
  'systemd-analyze': { command: 'systemd-analyze', debianPackage: 'systemd', versionArgs: ['--version'], purpose: 'verify units' },
  setpriv: { command: 'setpriv', debianPackage: 'util-linux', versionArgs: ['--version'], purpose: 'end image tools together with a killed build' },
  veritysetup: { command: 'veritysetup', debianPackage: 'cryptsetup-bin', versionArgs: ['--version'], purpose: 'verify the dm-verity hash tree of signed images' },
  openssl: { command: 'openssl', debianPackage: 'openssl', versionArgs: ['version'], purpose: 'verify the signature of signed images' },
  unshare: { command: 'unshare', debianPackage: 'util-linux', versionArgs: ['--version'], purpose: 'private mount namespaces for merge tests' },
  'apt-get': { command: 'apt-get', debianPackage: 'apt', versionArgs: ['--version'], purpose: 'resolve Debian package closures' },
  'dpkg-deb': { command: 'dpkg-deb', debianPackage: 'dpkg', versionArgs: ['--version'], purpose: 'unpack Debian packages' },
  patchelf: { command: 'patchelf', debianPackage: 'patchelf', versionArgs: ['--version'], purpose: 'relocate Debian binaries into a private prefix' },
} as const satisfies Record<string, HostTool>;

export type ToolName = keyof typeof HOST_TOOLS;

export class MissingToolError extends Error {
  override readonly name = 'MissingToolError';
  constructor(readonly tool: HostTool) {
    super(`${tool.command} is not installed (needed to ${tool.purpose}): apt-get install ${tool.debianPackage}`);
  }
}

export interface ToolStatus {
  tool: HostTool;
  version?: string;
}

const versions = new Map<ToolName, Promise<ToolStatus>>();

/** Probes a tool once per process; the first line mentioning a version number is its version. */
export function probeTool(name: ToolName): Promise<ToolStatus> {
  let status = versions.get(name);
  if (!status) {
    const tool: HostTool = HOST_TOOLS[name];
    status = execa(tool.command, tool.versionArgs, { reject: false, all: true }).then((result) => {
      if (result.failed && (result as { code?: string }).code === 'ENOENT') return { tool };
      const line = (result.all ?? '').split('\n').find((l) => /\d+\.\d+/.test(l)) ?? '';
      return { tool, version: /\d+(\.\d+)+/.exec(line)?.[0] ?? 'unknown' };
    });
    versions.set(name, status);
  }
  return status;
}

/** Resolves to the tool's version, or throws MissingToolError with the package to install. */
export async function requireTool(name: ToolName): Promise<string> {
  const { tool, version } = await probeTool(name);
  if (version === undefined) throw new MissingToolError(tool);
  return version;
}
