import { createHash, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomically } from './atomic.js';
import { MirrorError, PayloadVerifyError } from './errors.js';
import { describeFile, nebraskaPackage, omahaResponse, OS_PAYLOAD_NAME, BOARDS, type ReleaseFiles } from './nebraska.js';
import { verifyPayload } from './verify.js';

/** Where Flatcar's update payloads live: BASE/BOARD/VERSION/NAME, the OS payload with a NAME.sha256 beside it. */
export const FLATCAR_UPDATE_SERVER = 'https://update.release.flatcar-linux.net';
export const MIRROR_RECORD = 'mirror.json';
export const MIRROR_NEBRASKA_FILE = 'nebraska-package.json';
export const MIRROR_OMAHA_FILE = 'omaha-response.xml';

export interface MirrorOptions {
  channel: string;
  version: string;
  board: string;
  /** Target directory; files land in TO/BOARD/VERSION/. */
  to: string;
  /** Release server base URL, or a directory with the same BOARD/VERSION/NAME layout. */
  from?: string;
  /** NAME of each official flatcar-NAME.gz to copy (podman, python, …). */
  extensions?: readonly string[];
  /** ID of each official oem-ID.gz to copy (azure, qemu, …). */
  oems?: readonly string[];
  /** Flatcar's public update key: what the hosts' update-payload-key.pub.pem holds. */
  updateKey: KeyObject;
  /** Where TO is served (or Nebraska's -flatcar-packages-path): the Nebraska package's url. */
  baseUrl: string;
}

export interface MirrorRecordEntry {
  name: string;
  size: number;
  sha256: string;
  /** Whether the release server published a whole-file sha256 that this file matched. */
  publishedSha256: boolean;
  source: string;
}

export interface MirrorRecord {
  channel: string;
  version: string;
  board: string;
  files: MirrorRecordEntry[];
}

export interface MirrorResult {
  dir: string;
  downloaded: string[];
  kept: string[];
  record: MirrorRecord;
}

const NAME = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * Copies one release's OS payload and the named official extension and OEM payloads into
 * TO/BOARD/VERSION/, with the Nebraska package and Omaha response that point at them. Each
 * download is checked against the whole-file sha256 the release server publishes for it
 * (NAME.sha256; required for the OS payload) and must pass every check a host runs against
 * the given update key. Downloads go to a scratch directory inside TO and move into place
 * only when all of them passed; files already mirrored (same sha256 as in mirror.json) are
 * not downloaded again.
 */
export async function mirrorFlatcar(options: MirrorOptions): Promise<MirrorResult> {
  if (!BOARDS.includes(options.board)) throw new MirrorError(`--board ${options.board}: Flatcar's boards are ${BOARDS.join(' and ')}`);
  if (!/^\d+\.\d+\.\d+$/.test(options.version)) throw new MirrorError(`--version ${options.version}: a Flatcar release such as 4230.2.1`);
  for (const name of [...(options.extensions ?? []), ...(options.oems ?? [])])
    if (!NAME.test(name)) throw new MirrorError(`"${name}": give extension names (podman) and OEM IDs (azure) without the flatcar-/oem- prefix or .gz`);
  const names = [OS_PAYLOAD_NAME, ...(options.extensions ?? []).map((n) => `flatcar-${n}.gz`), ...(options.oems ?? []).map((n) => `oem-${n}.gz`)];
  const from = (options.from ?? FLATCAR_UPDATE_SERVER).replace(/\/+$/, '');
  const relative = `${options.board}/${options.version}`;
  const dir = path.join(path.resolve(options.to), relative);
  const previous = await readRecord(path.join(dir, MIRROR_RECORD));

  await mkdir(options.to, { recursive: true });
  const scratch = await mkdtemp(path.join(path.resolve(options.to), '.mirror-'));
  try {
    const entries: MirrorRecordEntry[] = [];
    const staged: string[] = [];
    const kept: string[] = [];
    for (const name of names) {
      const known = previous?.files.find((f) => f.name === name);
      const existing = known ? await readFile(path.join(dir, name)).catch(() => undefined) : undefined;
      if (known && existing && sha256(existing) === known.sha256) {
        entries.push(known);
        kept.push(name);
        continue;
      }
      const source = `${from}/${relative}/${name}`;
      const payload = await download(source);
      if (!payload) throw new MirrorError(`${source}: not found (is ${name} part of Flatcar ${options.version} for ${options.board}?)`);
      const published = await publishedSha256(`${source}.sha256`, name, name === OS_PAYLOAD_NAME);
      const actual = sha256(payload);
      if (published !== undefined && published !== actual)
        throw new MirrorError(`${source}: sha256 ${actual}, but the release server's ${name}.sha256 says ${published}: a corrupted or tampered download; nothing was written`);
      try {
        await verifyPayload(payload, [options.updateKey], source);
      } catch (error) {
        if (error instanceof PayloadVerifyError) throw new MirrorError(`${error.message}\nnothing was written: is the update key Flatcar's (or the one this release was signed with)?`);
        throw error;
      }
      await writeFileAtomically(path.join(scratch, name), payload);
      staged.push(name);
      entries.push({ name, size: payload.length, sha256: actual, publishedSha256: published !== undefined, source });
    }

    await mkdir(dir, { recursive: true });
    for (const name of staged) await rename(path.join(scratch, name), path.join(dir, name));
    const described = await Promise.all(names.map(async (name) => describeFile(name, await readFile(path.join(dir, name)))));
    const release: ReleaseFiles = { version: options.version, board: options.board, url: `${options.baseUrl.replace(/\/+$/, '')}/${relative}/`, os: described[0]!, extras: described.slice(1) };
    await writeFileAtomically(path.join(dir, MIRROR_NEBRASKA_FILE), `${JSON.stringify(nebraskaPackage(release), null, 2)}\n`);
    await writeFileAtomically(path.join(dir, MIRROR_OMAHA_FILE), omahaResponse(release));
    const record: MirrorRecord = { channel: options.channel, version: options.version, board: options.board, files: mergeEntries(previous, entries) };
    // Last: a record names only files that are in place and verified.
    await writeFileAtomically(path.join(dir, MIRROR_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    return { dir, downloaded: staged, kept, record };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function mergeEntries(previous: MirrorRecord | undefined, entries: readonly MirrorRecordEntry[]): MirrorRecordEntry[] {
  const byName = new Map((previous?.files ?? []).map((f) => [f.name, f]));
  for (const entry of entries) byName.set(entry.name, entry);
  return [...byName.values()].sort((a, b) => (a.name === OS_PAYLOAD_NAME ? -1 : b.name === OS_PAYLOAD_NAME ? 1 : a.name.localeCompare(b.name)));
}

async function readRecord(file: string): Promise<MirrorRecord | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as MirrorRecord;
  } catch {
    throw new MirrorError(`${file}: not JSON; remove it and run again (every file is then downloaded and verified again)`);
  }
}

/** A file from a URL or a directory; undefined when it does not exist there. */
async function download(source: string): Promise<Buffer | undefined> {
  if (!/^https?:\/\//.test(source)) return readFile(source).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)));
  const response = await fetch(source).catch((error: Error) => {
    throw new MirrorError(`${source}: ${error.message} (--from points at another release server or a directory)`);
  });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new MirrorError(`${source}: HTTP ${response.status} ${response.statusText}`);
  return Buffer.from(await response.arrayBuffer());
}

/**
 * The release server publishes NAME.sha256 ("HEX" or sha256sum's "HEX  NAME") beside the OS
 * payload; for extension and OEM payloads it may not, and then their signature, which covers
 * every byte but itself, is the check.
 */
async function publishedSha256(source: string, name: string, required: boolean): Promise<string | undefined> {
  const body = await download(source);
  if (!body) {
    if (required) throw new MirrorError(`${source}: not found; the release server publishes the OS payload's sha256 there, and the mirror does not copy a payload it cannot check`);
    return undefined;
  }
  const match = /^([0-9a-f]{64})(?:\s+\*?(\S+))?$/.exec(body.toString('utf8').trim());
  if (!match || (match[2] !== undefined && path.basename(match[2]) !== name)) throw new MirrorError(`${source}: expected "SHA256  ${name}" (or just the hex digest), got ${JSON.stringify(body.toString('utf8').slice(0, 100))}`);
  return match[1];
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
