import { execa } from 'execa';
import { MissingToolError } from '@bakehouse/builder';

const BZIP2 = { command: 'bzip2', debianPackage: 'bzip2', versionArgs: ['--help'], purpose: 'compress and expand REPLACE_BZ payload operations' };

/** Debian's bzip2 -9: its output is byte-identical to what Flatcar's delta_generator stores. */
export function compressBzip2(data: Buffer): Promise<Buffer> {
  return run(['-9', '-c'], data);
}

export function expandBzip2(data: Buffer): Promise<Buffer> {
  return run(['-d', '-c'], data);
}

async function run(args: string[], input: Buffer): Promise<Buffer> {
  try {
    const { stdout } = await execa('bzip2', args, { input, encoding: 'buffer', stripFinalNewline: false, maxBuffer: 1024 * 1024 * 1024 });
    return Buffer.from(stdout);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') throw new MissingToolError(BZIP2);
    throw error;
  }
}
