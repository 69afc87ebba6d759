// Release assets with upstream's names and layout, but binaries of realistic size: the
// fixtures' tiny shell scripts would make process start-up dominate every timing.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../packages/builder/dist/index.js';
import { writeTar } from '../tools/fixtures/dist/index.js';

const MiB = 1024 ** 2;

/** Roughly what upstream's binaries weigh; a file not listed gets DEFAULT_SIZE. */
const REAL_SIZES = {
  containerd: 40 * MiB,
  'containerd-shim-runc-v2': 10 * MiB,
  'containerd-stress': 19 * MiB,
  ctr: 20 * MiB,
  runc: 12 * MiB,
};
const DEFAULT_SIZE = 10 * MiB;

/**
 * Archive members upstream ships but no extract rule takes, keyed "extension/input". The
 * builder still decompresses them, so leaving them out would flatter it.
 */
const UNEXTRACTED_MEMBERS = {
  'containerd/containerd': ['bin/containerd-stress'],
};

/** Share of the payload that is fresh random bytes; the rest repeats recent bytes. 0.33 compresses ~2.7× like real binaries. */
const FRESH_SHARE = 0.33;

/**
 * Writes the inputs of `plans` (build plans with upstream URLs) below `siteDir`, each at its
 * URL's path, and returns source overrides pointing those inputs at `baseUrl`.
 */
export async function writeRealisticUpstream(plans, siteDir, baseUrl) {
  const sources = {};
  for (const plan of plans) {
    for (const input of plan.inputs) {
      const sitePath = new URL(input.url).pathname;
      const file = path.join(siteDir, sitePath);
      await mkdir(path.dirname(file), { recursive: true });
      const seed = `${plan.name}/${input.name}/${plan.arch}`;
      if (input.kind === 'file') {
        await writeFile(file, payload(sizeOf(input.extract[0].to), seed));
      } else if (input.kind.startsWith('tar')) {
        const members = [...input.extract.map((rule) => memberName(rule.from)), ...(UNEXTRACTED_MEMBERS[`${plan.name}/${input.name}`] ?? [])];
        await writeTar(file, members.map((name) => ({ name, mode: 0o755, content: payload(sizeOf(name), `${seed}/${name}`) })), input.kind);
      } else {
        throw new Error(`bench: cannot fake the ${input.kind} input "${input.name}" of ${plan.name} yet; teach bench/fake-upstream.mjs`);
      }
      const pins = ((sources[plan.name] ??= {})[input.name] ??= {});
      pins[plan.arch] = { url: `${baseUrl}${sitePath}`, sha256: await sha256File(file) };
    }
  }
  return sources;
}

/** A rule whose `from` ends in "/" maps a whole directory: one file inside it stands for its content. */
function memberName(from) {
  return from.endsWith('/') ? `${from}payload` : from;
}

function sizeOf(file) {
  return REAL_SIZES[path.posix.basename(file)] ?? DEFAULT_SIZE;
}

/**
 * Semi-compressible bytes, the same for the same seed so runs compare: runs of fresh
 * pseudo-random bytes alternate with copies of bytes a little earlier, which deflate finds.
 */
export function payload(size, seed) {
  const next = xorshift32(createHash('sha256').update(seed).digest().readUInt32LE(0) || 1);
  const bytes = Buffer.allocUnsafe(size);
  const window = 8192;
  for (let at = 0; at < size; ) {
    const length = Math.min(16 + (next() % 113), size - at);
    if (at < window + length || next() % 1000 < FRESH_SHARE * 1000) {
      for (let i = 0; i < length; i++) bytes[at + i] = next() & 0xff;
    } else {
      const from = at - length - (next() % window);
      bytes.copyWithin(at, from, from + length);
    }
    at += length;
  }
  return bytes;
}

function xorshift32(seed) {
  let state = seed >>> 0;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>>= 0);
  };
}
