import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { HOST_TOOLS, MissingToolError } from '../tools.js';

export type TarKind = 'tar' | 'tar.gz' | 'tar.xz' | 'tar.zst';

/** Large pieces: the default 16-64 KiB ones make unpacking cost twice a plain gunzip (see bench/). */
const CHUNK = 1 << 20;

/** The tar stream inside `file`. Every failure, a decompressor's non-zero exit included, arrives as a stream error. */
export function openTarStream(kind: TarKind, file: string): Readable {
  switch (kind) {
    case 'tar':
      return createReadStream(file, { highWaterMark: CHUNK });
    case 'tar.gz':
      // The callback form returns the last stream and destroys it with any error upstream; the error itself is handled by our reader.
      return pipeline(createReadStream(file, { highWaterMark: CHUNK }), createGunzip({ chunkSize: CHUNK }), () => undefined);
    case 'tar.xz':
      return decompressWith('xz', file);
    case 'tar.zst':
      return decompressWith('zstd', file);
  }
}

/** Streams `tool -dc file`. Node has no xz or zstd decoder, and the CLIs are fast and on every build host. */
function decompressWith(tool: 'xz' | 'zstd', file: string): Readable {
  const output = new PassThrough();
  const child = spawn(HOST_TOOLS[tool].command, ['-dc', '--', file], { stdio: ['ignore', 'pipe', 'pipe'] });

  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-2000);
  });
  // Ending `output` waits for the exit status: a truncated stream must fail, not look like a short archive.
  child.stdout.pipe(output, { end: false });
  child.on('error', (error: NodeJS.ErrnoException) => {
    output.destroy(error.code === 'ENOENT' ? new MissingToolError(HOST_TOOLS[tool]) : error);
  });
  child.on('close', (code, signal) => {
    if (code === 0) output.end();
    else output.destroy(new Error(`${tool} -dc failed (${signal ?? `exit code ${code}`}): ${stderr.trim()}`));
  });
  // The reader stops early when it refuses an entry; the decompressor then has no reason to go on.
  output.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  return output;
}
