import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { ExtractRule } from '@bakehouse/schema';
import { type ArchiveContext, ExtractError } from './errors.js';
import type { StagingArea } from './staging-area.js';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** A "file" input: the download itself is the one file, installed at extract[0].to. */
export async function stageSingleFile(
  file: string,
  rules: readonly ExtractRule[],
  staging: StagingArea,
  context: ArchiveContext,
): Promise<void> {
  const [rule, ...extra] = rules;
  if (rule === undefined || extra.length > 0 || rule.from !== undefined)
    throw new ExtractError(context, 'a "file" input needs exactly one extract rule, with "to" and no "from"');
  if (rule.to.endsWith('/')) throw new ExtractError(context, `extract[0].to "${rule.to}" must name a file, not a directory`);

  const mode = rule.mode ?? ((await looksExecutable(file)) ? 0o755 : 0o644);
  await staging.writeFile({ imagePath: rule.to, owner: 'extract[0]' }, createReadStream(file, { highWaterMark: 1 << 20 }), mode);
}

/** A bare download carries no mode; ELF binaries and "#!" scripts are what a manifest would mean by executable. */
async function looksExecutable(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    const head = buffer.subarray(0, bytesRead);
    return head.equals(ELF_MAGIC) || head.subarray(0, 2).toString('latin1') === '#!';
  } finally {
    await handle.close();
  }
}
