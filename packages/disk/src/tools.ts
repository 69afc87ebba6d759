import { execa } from 'execa';
import { BakeError } from './errors.js';

/** The host tools bake runs, and the Debian package of each. */
const TOOLS = {
  debugfs: 'e2fsprogs',
  'mkfs.btrfs': 'btrfs-progs',
  btrfs: 'btrfs-progs',
  bzip2: 'bzip2',
  'qemu-img': 'qemu-utils',
  gpgv: 'gpgv',
  unsquashfs: 'squashfs-tools',
} as const;

/** e2fsprogs and btrfs-progs install into /usr/sbin and /sbin, which a normal user's PATH often lacks. */
export const TOOL_ENV = { PATH: [process.env.PATH, '/usr/sbin', '/sbin'].filter(Boolean).join(':') };

export async function requireCommand(command: keyof typeof TOOLS): Promise<void> {
  const { exitCode } = await execa('sh', ['-c', `command -v ${command}`], { reject: false, env: TOOL_ENV });
  if (exitCode !== 0) throw new BakeError(`bake needs ${command}, which is not installed: apt-get install ${TOOLS[command]}`);
}
