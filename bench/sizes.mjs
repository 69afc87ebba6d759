// Image size per extension and compressor, on the builder's own staged tree of each image.
// Run alone with `node bench/sizes.mjs [NAME…]` (after the packages are built; without NAME every
// Debian closure), or as part of `pnpm bench`.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const squashfs = (...flags) => ({ command: 'mksquashfs', args: (tree, out) => [tree, out, '-noappend', '-all-root', '-no-xattrs', '-quiet', '-no-progress', ...flags] });

/**
 * The variants compared; `gzip` is the baseline every ratio is against. The signed DDIs are
 * whole `.raw` files as `bakehouse build --sign-key/--sign-cert` writes them (GPT, erofs data,
 * dm-verity hashes, signature), made by the builder's own makeDdi: with the data partition's
 * lz4hc (the builder's choice) and uncompressed (what systemd-repart makes by default).
 */
export const COMPRESSORS = {
  gzip: { label: 'squashfs gzip', ...squashfs('-comp', 'gzip') },
  xz: { label: 'squashfs xz', ...squashfs('-comp', 'xz') },
  zstd: { label: 'squashfs zstd', ...squashfs('-comp', 'zstd') },
  'xz-1m': { label: 'squashfs xz 1M (default)', ...squashfs('-comp', 'xz', '-b', '1M') },
  'zstd19-1m': { label: 'squashfs zstd-19 1M', ...squashfs('-comp', 'zstd', '-Xcompression-level', '19', '-b', '1M') },
  'erofs-lz4hc': { label: 'erofs lz4hc', command: 'mkfs.erofs', args: (tree, out) => ['-zlz4hc,12', '-C65536', '-Efragments,ztailpacking', '--all-root', '--quiet', out, tree] },
  'ddi-lz4hc': { label: 'signed DDI lz4hc (default)', ddi: 'lz4hc' },
  'ddi-none': { label: 'signed DDI uncompressed', ddi: 'none' },
};
export const GOAL_RATIO = 0.8;

/**
 * Stages each target's image with the builder (downloads into `cacheDir`), then makes it with
 * every compressor. `synthetic` marks images whose inputs are the bench's fake binaries:
 * their sizes say little about how real binaries compress, unlike the Debian closures.
 */
export async function measureSizes(builder, targets, { cacheDir, scratch, log }) {
  const names = variantsHere(log);
  // A throw-away RSA key signs the DDIs; the DDI tools root (a cached Debian trixie root) lives in the shared cache.
  const signing = { key: path.join(scratch, 'sizes-signing.key'), cert: path.join(scratch, 'sizes-signing.crt') };
  if (names.some((name) => COMPRESSORS[name].ddi))
    await execFileAsync('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', signing.key, '-out', signing.cert, '-days', '1', '-subj', '/CN=bakehouse bench']);
  const make = async (name, plan, tree, out) => {
    const { ddi, command, args } = COMPRESSORS[name];
    if (!ddi) return execFileAsync(command, args(tree, out));
    return builder.makeDdi({ stageDir: tree, output: out, arch: plan.arch, identity: plan.imageName, sourceDateEpoch: plan.sourceDateEpoch, signing, cacheDir: builder.defaultCacheDir(), compression: ddi, log });
  };
  const rows = [];
  for (const { plan, synthetic } of targets) {
    log(`sizes: staging ${plan.imageName}`);
    const work = await mkdtemp(path.join(scratch, `sizes-${plan.imageName}-`));
    try {
      const inputs = new Map(await Promise.all(plan.inputs.map(async (input) => [input.name, await builder.fetchDownload(input, { cacheDir })])));
      const debs = [];
      for (const deb of plan.closure?.debs ?? []) debs.push(await builder.fetchDownload(deb, { cacheDir }));
      const tree = path.join(work, 'tree');
      await builder.stageTree(plan, { inputs, debs }, tree);
      const stagedBytes = (await builder.listTree(tree)).reduce((sum, entry) => sum + entry.size, 0);
      const bytes = {};
      const seconds = {};
      for (const name of names) {
        const out = path.join(work, `${name}.img`);
        const started = performance.now();
        await make(name, plan, tree, out);
        seconds[name] = Math.round(performance.now() - started) / 1000;
        bytes[name] = (await stat(out)).size;
        await rm(out);
      }
      const ratio = Object.fromEntries(names.map((name) => [name, Number((bytes[name] / bytes.gzip).toFixed(3))]));
      rows.push({ image: plan.imageName, synthetic, stagedBytes, bytes, seconds, ratio });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  return { compressors: Object.fromEntries(names.map((name) => [name, COMPRESSORS[name].label])), goalRatio: GOAL_RATIO, images: rows, real: sumOf(names, rows.filter((r) => !r.synthetic)) };
}

/** Signed DDIs need root (systemd-repart runs chrooted in a private mount namespace); without it they are left out, saying so. */
function variantsHere(log) {
  const names = Object.keys(COMPRESSORS);
  if (process.getuid?.() === 0) return names;
  log('sizes: not root, so the signed DDI columns are left out (systemd-repart runs chrooted in a private mount namespace)');
  return names.filter((name) => !COMPRESSORS[name].ddi);
}

/** Totals over the images made of real binaries: the numbers the default compressor rests on. */
function sumOf(names, rows) {
  const total = (key, name) => rows.reduce((sum, row) => sum + row[key][name], 0);
  const bytes = Object.fromEntries(names.map((name) => [name, total('bytes', name)]));
  const seconds = Object.fromEntries(names.map((name) => [name, Math.round(total('seconds', name) * 1000) / 1000]));
  const ratio = Object.fromEntries(names.map((name) => [name, bytes.gzip ? Number((bytes[name] / bytes.gzip).toFixed(3)) : 0]));
  return { images: rows.map((r) => r.image), bytes, seconds, ratio };
}

export function printSizes({ compressors, images, real, goalRatio }, printTable) {
  const MiB = 1024 ** 2;
  const names = Object.keys(compressors);
  console.log(`\nImage size per compressor (MiB, and × squashfs gzip; goal ≤ ${goalRatio.toFixed(2)}×)\n`);
  printTable(
    ['image', 'staged', ...names.map((n) => compressors[n])],
    [
      ...images.map((r) => [`${r.image}${r.synthetic ? ' *' : ''}`, (r.stagedBytes / MiB).toFixed(1), ...names.map((n) => `${(r.bytes[n] / MiB).toFixed(1)} ${r.ratio[n].toFixed(2)}×`)]),
      ['real binaries, total', '', ...names.map((n) => `${(real.bytes[n] / MiB).toFixed(1)} ${real.ratio[n].toFixed(2)}×`)],
      ['  seconds to make them', '', ...names.map((n) => real.seconds[n].toFixed(1))],
    ],
  );
  console.log('* synthetic: the bench\'s fake binaries (seeded bytes), so only the Debian closures\' real binaries speak for a compressor.');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const builder = await import('../packages/builder/dist/index.js');
  const { loadAllExtensions, requireLock } = await import('../packages/cli/dist/workspace.js');
  const REPO_ROOT = path.resolve(import.meta.dirname, '..');
  const flatcarVersion = JSON.parse(await (await import('node:fs/promises')).readFile(path.join(REPO_ROOT, 'flatcar.json'), 'utf8')).version;
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-sizes-'));
  try {
    const targets = (await loadAllExtensions(REPO_ROOT))
      .filter((e) => e.manifest.debian && (process.argv.length <= 2 || process.argv.slice(2).includes(e.manifest.name)))
      .map((e) => ({ synthetic: false, plan: builder.resolvePlan(e.manifest, requireLock(e).images[0], { extensionDir: e.dir, arch: e.manifest.arch[0], format: 'squashfs', flatcarVersion }) }));
    const sizes = await measureSizes(builder, targets, { cacheDir: builder.defaultCacheDir(), scratch, log: (m) => console.error(m) });
    printSizes(sizes, (header, rows) => {
      const widths = header.map((_, c) => Math.max(...[header, ...rows].map((row) => row[c].length)));
      console.log([header, ...rows].map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n'));
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
