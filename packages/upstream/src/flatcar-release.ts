import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '@bakehouse/builder';
import { formatFieldPath } from '@bakehouse/schema';

/** The Flatcar release images are built for, kept at the workspace root. */
export const FLATCAR_FILE = 'flatcar.json';

export const FLATCAR_CHANNELS = ['stable', 'beta', 'alpha', 'lts'] as const;
export const FLATCAR_BOARDS = ['amd64-usr', 'arm64-usr'] as const;
export type FlatcarChannel = (typeof FLATCAR_CHANNELS)[number];
export type FlatcarBoard = (typeof FLATCAR_BOARDS)[number];

/** Flatcar versions are MAJOR.MINOR.PATCH, where MAJOR counts days since Flatcar's epoch. */
export const FLATCAR_VERSION_PATTERN = /^\d+\.\d+\.\d+$/;

const flatcarReleaseSchema = z.strictObject({
  channel: z.enum(FLATCAR_CHANNELS),
  version: z.string().regex(FLATCAR_VERSION_PATTERN, 'a Flatcar version such as 4230.2.1'),
  board: z.enum(FLATCAR_BOARDS),
});
export type FlatcarRelease = z.infer<typeof flatcarReleaseSchema>;

/** flatcar.json is missing a field, holds an unknown one, or is not JSON. The message names the file and each field at fault. */
export class FlatcarReleaseError extends Error {
  override readonly name = 'FlatcarReleaseError';
}

/** Validates flatcar.json's content; `file` is what errors name. */
export function parseFlatcarRelease(data: unknown, file: string): FlatcarRelease {
  const result = flatcarReleaseSchema.safeParse(data);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `  - ${issue.path.length > 0 ? formatFieldPath(issue.path) : '(file)'}: ${issue.message}`);
  throw new FlatcarReleaseError(`${file}: invalid Flatcar release\n${problems.join('\n')}`);
}

/** The workspace's flatcar.json, or undefined when there is none yet. */
export async function readFlatcarRelease(root: string): Promise<FlatcarRelease | undefined> {
  const text = await readFile(path.join(root, FLATCAR_FILE), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (text === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new FlatcarReleaseError(`${FLATCAR_FILE}: not valid JSON (${(error as Error).message})`);
  }
  return parseFlatcarRelease(data, FLATCAR_FILE);
}

/** Writes flatcar.json atomically, so a build started meanwhile reads the old release or the new one, never half of it. */
export async function writeFlatcarRelease(root: string, release: FlatcarRelease): Promise<void> {
  const checked = parseFlatcarRelease(release, FLATCAR_FILE);
  const ordered = { channel: checked.channel, version: checked.version, board: checked.board };
  await writeFileAtomic(path.join(root, FLATCAR_FILE), `${JSON.stringify(ordered, null, 2)}\n`);
}
