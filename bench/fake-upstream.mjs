// Release assets with upstream's names and layout, but binaries of realistic size: the
// fixtures' tiny shell scripts would make process start-up dominate every timing.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FakeUpstream, writeTar } from '../tools/fixtures/dist/index.js';

const MiB = 1024 ** 2;

/** Roughly what upstream's binaries weigh; a file not listed gets DEFAULT_SIZE. */
const REAL_SIZES = {
  containerd: 40 * MiB,
  'containerd-shim-runc-v2': 10 * MiB,
  'containerd-stress': 19 * MiB,
  ctr: 20 * MiB,
  runc: 12 * MiB,
  dockerd: 65 * MiB,
  docker: 34 * MiB,
  'docker-init': 1 * MiB,
  'docker-proxy': 2 * MiB,
  kubeadm: 55 * MiB,
  kubelet: 75 * MiB,
  kubectl: 54 * MiB,
  crictl: 40 * MiB,
};
/** A small Go helper, such as each of the CNI plugins; list bigger binaries above. */
const DEFAULT_SIZE = 4 * MiB;

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
 * upstream path, and returns the source overrides that send those URLs to `baseUrl`. Binaries
 * get their real size times `scale`.
 */
export async function writeFakeUpstream(plans, siteDir, baseUrl, scale) {
  const upstream = new FakeUpstream(siteDir, baseUrl);
  for (const plan of plans)
    for (const input of plan.inputs) await upstream.add(input.url, (file) => writeAsset(file, plan, input, scale));
  return upstream.sources;
}

async function writeAsset(file, plan, input, scale) {
  const seed = `${plan.imageName}/${input.name}`;
  const binary = (name) => payload(Math.ceil(sizeOf(name) * scale), `${seed}/${name}`);
  if (input.kind === 'file') return writeFile(file, binary(input.extract[0].to));
  if (!input.kind.startsWith('tar')) throw new Error(`bench: cannot fake the ${input.kind} input "${input.name}" of ${plan.name} yet; teach bench/fake-upstream.mjs`);
  const members = [...input.extract.map((rule) => memberName(rule.from)), ...(UNEXTRACTED_MEMBERS[`${plan.name}/${input.name}`] ?? [])];
  return writeTar(file, members.map((name) => ({ name, mode: 0o755, content: binary(name) })), input.kind);
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
function payload(size, seed) {
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
