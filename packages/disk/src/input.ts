import { open, rename, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { BakeError } from './errors.js';
import { readRange } from './layout.js';
import { requireCommand } from './tools.js';

/** The disk formats bake takes: raw (`.bin`), a bzip2-compressed raw (`.bin.bz2`, streamed) and qcow2 (converted with qemu-img). */
export type DiskFormat = 'raw' | 'bzip2' | 'qcow2';

export const ACCEPTED_FORMATS = 'a raw Flatcar disk image (flatcar_production_image.bin), the same compressed with bzip2 (.bin.bz2), or qcow2';

const FOREIGN: [string, (head: Buffer) => boolean][] = [
  ['vmdk', (h) => h.toString('latin1', 0, 4) === 'KDMV' || h.toString('latin1', 0, 21) === '# Disk DescriptorFile'],
  ['vhdx', (h) => h.toString('latin1', 0, 8) === 'vhdxfile'],
  ['vhd', (h) => h.toString('latin1', 0, 8) === 'conectix'],
  ['VirtualBox vdi', (h) => h.readUInt32LE(64) === 0xbeda107f],
  ['gzip', (h) => h[0] === 0x1f && h[1] === 0x8b],
  ['xz', (h) => h.toString('latin1', 1, 6) === '7zXZ\0'],
  ['zstd', (h) => h.readUInt32LE(0) === 0xfd2fb528],
];

/** Tells the formats apart by their magic numbers, not by the file name. */
export async function detectDiskFormat(file: string): Promise<DiskFormat> {
  const head = await readRange(file, 0, 1024).catch((error: NodeJS.ErrnoException) => {
    throw new BakeError(`the disk image ${file} cannot be read (${error.code ?? error.message})`);
  });
  if (head.length < 1024) throw new BakeError(`${file} is ${head.length} bytes: too small to be a disk image. Pass ${ACCEPTED_FORMATS}`);
  if (head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.toString('latin1', 0, 4) === 'QFI\xfb') return 'qcow2';
  if (head.toString('latin1', 512, 520) === 'EFI PART') return 'raw';
  const foreign = FOREIGN.find(([, test]) => test(head));
  throw new BakeError(
    `${file} is ${foreign ? `a ${foreign[0]} file` : 'not a GPT disk image'}: bake takes ${ACCEPTED_FORMATS}` +
      (foreign && /^v/.test(foreign[0]) ? `; convert it first: qemu-img convert -O raw ${file} disk.bin` : ''),
  );
}

/** Writes `disk` (any accepted format) to `target` as a sparse raw image: all-zero blocks become holes. */
export async function materializeRaw(disk: string, format: DiskFormat, target: string): Promise<void> {
  if (format === 'qcow2') {
    await requireCommand('qemu-img');
    await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', disk, target], `${disk} cannot be converted from qcow2`);
    return;
  }
  if (format === 'raw') {
    await run('cp', ['--sparse=always', '--reflink=auto', disk, target], `${disk} cannot be copied`);
    return;
  }
  await requireCommand('bzip2');
  const handle = await open(target, 'w');
  let result;
  try {
    // Spawned only now, and read at once: execa lets unbuffered output flow, so bytes that arrive before the loop reads are lost.
    const child = execa('bzip2', ['-dc', disk], { buffer: { stdout: false, stderr: true }, stdout: 'pipe', reject: false });
    [result] = await Promise.all([child, writeSparse(child.stdout as Readable, handle)]);
  } finally {
    await handle.close();
  }
  if (result.exitCode !== 0) throw new BakeError(`${disk} does not decompress (bzip2: ${String(result.stderr).trim()}): the download is damaged or truncated; fetch it again`);
}

/** The baked raw image in the input's own format at `target`: qcow2 disks go back to qcow2. */
export async function exportDisk(raw: string, format: DiskFormat, target: string): Promise<void> {
  if (format === 'qcow2') {
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, target], `the baked image cannot be converted to qcow2`);
    await rm(raw, { force: true });
    return;
  }
  await rename(raw, target);
}

const BLOCK = 4096;

async function writeSparse(stream: Readable, handle: FileHandle): Promise<void> {
  let position = 0;
  let pending: Buffer = Buffer.alloc(0);
  const flush = async (bytes: Buffer) => {
    for (let at = 0; at < bytes.length; at += BLOCK) {
      const block = bytes.subarray(at, at + BLOCK);
      if (!isZero(block)) await handle.write(block, 0, block.length, position + at);
    }
    position += bytes.length;
  };
  for await (const chunk of stream) {
    pending = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
    const whole = pending.length - (pending.length % BLOCK);
    await flush(pending.subarray(0, whole));
    pending = pending.subarray(whole);
  }
  await flush(pending);
  await handle.truncate(position);
}

export function isZero(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Writes `source` over `length` bytes of `disk` at `offset`, block by block, skipping blocks that
 * already hold the same bytes: holes stay holes, so the output stays sparse.
 */
export async function writeRegion(disk: string, offset: number, source: string, length: number): Promise<void> {
  const size = (await stat(source)).size;
  if (size > length) throw new BakeError(`internal: ${source} (${size} bytes) does not fit the ${length}-byte region`);
  const [from, to] = await Promise.all([open(source, 'r'), open(disk, 'r+')]);
  try {
    const chunk = 1 << 20;
    const next = Buffer.alloc(chunk);
    const old = Buffer.alloc(chunk);
    for (let at = 0; at < length; at += chunk) {
      const n = Math.min(chunk, length - at);
      next.fill(0);
      await from.read(next, 0, Math.min(n, Math.max(0, size - at)), at);
      old.fill(0);
      await to.read(old, 0, n, offset + at);
      for (let b = 0; b < n; b += BLOCK) {
        const end = Math.min(b + BLOCK, n);
        if (!next.subarray(b, end).equals(old.subarray(b, end))) await to.write(next, b, end - b, offset + at + b);
      }
    }
  } finally {
    await Promise.all([from.close(), to.close()]);
  }
}

/** Copies `length` bytes of `disk` at `offset` into a new file. */
export async function extractRegion(disk: string, offset: number, length: number, target: string): Promise<void> {
  await run('dd', [`if=${disk}`, `of=${target}`, 'bs=1M', `skip=${offset}`, `count=${length}`, 'iflag=skip_bytes,count_bytes', 'conv=sparse', 'status=none'], `cannot read the partition at byte ${offset} of ${disk}`);
  // conv=sparse seeks over trailing zeros instead of writing them: give the file its full length.
  await truncate(target, length);
}

async function run(command: string, args: string[], what: string): Promise<void> {
  const result = await execa(command, args, { reject: false, all: true });
  if (result.exitCode !== 0) throw new BakeError(`${what}: ${command} says: ${(result.all ?? '').trim() || `exit code ${result.exitCode}`}`);
}
