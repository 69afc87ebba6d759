import { execa } from 'execa';
import { lstat } from 'node:fs/promises';

/** The loop devices bound into every container. */
export const LOOP_DEVICES = 8;

/**
 * Makes /dev/loop0..7 exist on the host. systemd-nspawn's shutdown can delete the host's
 * nodes of devices bound into the container, and other users of the machine need them.
 */
export async function restoreLoopDevices(): Promise<void> {
  for (let n = 0; n < LOOP_DEVICES; n++) {
    const node = `/dev/loop${n}`;
    const st = await lstat(node).catch(() => undefined);
    if (st?.isBlockDevice()) continue;
    await execa('mknod', ['-m', '600', node, 'b', '7', String(n)]).catch((error: unknown) => {
      // Two runs restoring at once: the other one won.
      if (!/File exists/.test(String((error as { stderr?: string }).stderr))) throw error;
    });
  }
}
