import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { BakeError } from './errors.js';
import { TOOL_ENV } from './tools.js';

/** An ext2/3/4 file system inside a disk image, reached with e2fsprogs' `FILE?offset=BYTES` syntax (unix_io), never mounted. */
export interface ExtVolume {
  disk: string;
  offset: number;
  /** What error messages call it: "ROOT (partition 9)". */
  name: string;
}

export type ExtNodeType = 'missing' | 'directory' | 'regular' | 'symlink' | 'other';

const spec = (volume: ExtVolume) => `${volume.disk}?offset=${volume.offset}`;
const BANNER = /^debugfs [\d.]+ \(.*\)$/;

/** debugfs' own messages (errors included) go to stderr next to its banner; it always exits 0. */
function problems(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !BANNER.test(l));
}

export async function nodeType(volume: ExtVolume, file: string): Promise<ExtNodeType> {
  const { stdout, stderr } = await execa('debugfs', ['-R', `stat ${quote(file)}`, spec(volume)], { reject: false, env: TOOL_ENV });
  if (/File not found by ext2_lookup/.test(stderr)) return 'missing';
  const type = /Type: (\w+)/.exec(stdout)?.[1];
  if (!type) throw new BakeError(`${volume.name}: debugfs cannot read ${file}: ${problems(stderr).join('; ')}`);
  return type === 'directory' || type === 'regular' || type === 'symlink' ? type : 'other';
}

/** A file's bytes, read with debugfs `cat`; undefined when it does not exist. */
export async function readExtFile(volume: ExtVolume, file: string): Promise<Buffer | undefined> {
  const { stdout, stderr } = await execa('debugfs', ['-R', `cat ${quote(file)}`, spec(volume)], { reject: false, encoding: 'buffer', stripFinalNewline: false, env: TOOL_ENV });
  const messages = problems(Buffer.from(stderr).toString());
  if (messages.some((m) => /File not found/.test(m))) return undefined;
  if (messages.length) throw new BakeError(`${volume.name}: debugfs cannot read ${file}: ${messages.join('; ')}`);
  return Buffer.from(stdout);
}

/** The target of a symlink, or undefined when `file` is not one. */
export async function readExtLink(volume: ExtVolume, file: string): Promise<string | undefined> {
  const { stdout } = await execa('debugfs', ['-R', `stat ${quote(file)}`, spec(volume)], { reject: false, env: TOOL_ENV });
  if (!/Type: symlink/.test(stdout)) return undefined;
  // Targets of 60 bytes and more live in a data block ("slow" links), which cat prints.
  return /Fast link dest: "(.*)"/.exec(stdout)?.[1] ?? (await readExtFile(volume, file))?.toString();
}

/**
 * Runs debugfs commands read-write in one session. `time` is handed to libext2fs as
 * E2FSPROGS_FAKE_TIME, so every inode time and the superblock's write time are that value and
 * the result depends only on the inputs (libext2fs ignores 0, so it must be at least 1).
 */
export async function runDebugfs(volume: ExtVolume, commands: readonly string[], time: number): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-debugfs-'));
  try {
    const script = path.join(dir, 'commands');
    await writeFile(script, `${commands.join('\n')}\n`);
    const { stderr, exitCode } = await execa('debugfs', ['-w', '-f', script, spec(volume)], { reject: false, env: { ...TOOL_ENV, E2FSPROGS_FAKE_TIME: String(time) } });
    const messages = problems(stderr);
    if (exitCode !== 0 || messages.length) {
      const full = messages.some((m) => /Could not allocate|No free space|ENOSPC/i.test(m));
      throw new BakeError(`${volume.name}: debugfs could not write the files${full ? ' (the file system is full)' : ''}: ${messages.slice(0, 5).join('; ')}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** debugfs splits its command lines on blanks; double quotes keep a path with spaces together. */
export function quote(file: string): string {
  if (/["\n]/.test(file)) throw new BakeError(`the path ${JSON.stringify(file)} cannot be passed to debugfs`);
  return /\s/.test(file) ? `"${file}"` : file;
}
