import { execa } from 'execa';
import { BootTestError } from '../errors.js';

/** Fails with the apt-get line that installs `command` when it is not on PATH. */
export async function requireTool(command: string, debianPackage: string): Promise<void> {
  const found = await execa('sh', ['-c', `command -v ${command}`], { reject: false });
  if (found.exitCode !== 0) throw new BootTestError(`the VM testbed needs ${command}: apt-get install ${debianPackage}`);
}
