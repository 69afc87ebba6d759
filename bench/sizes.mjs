// Image size per extension and compressor, on the builder's own staged tree of each image.
// Run alone with `node bench/sizes.mjs` (after the packages are built), or as part of `pnpm bench`.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The variants compared; `gzip` is the baseline every ratio is against. */
export const COMPRESSORS = {
  gzip: { label: 'squashfs gzip', command: 'mksquashfs', args: (tree, out) => [tree, out, '-noappend', '-all-root', '-no-xattrs', '-quiet', '-no-progress', '-comp', 'gzip'] },
  xz: { label: 'squashfs xz', command: 'mksquashfs', args: (tree, out) => [tree, out, '-noappend', '-all-root', '-no-xattrs', '-quiet', '-no-progress', '-comp', 'xz'] },
  zstd: { label: 'squashfs zstd', command: 'mksquashfs', args: (tree, out) => [tree, out, '-noappend', '-all-root', '-no-xattrs', '-quiet', '-no-progress', '-comp', 'zstd'] },
  'xz-1m': { label: 'squashfs xz 1M (default)', command: 'mksquashfs', args: (tree, out) => [tree, out, '-noappend', '-all-root', '-no-xattrs', '-quiet', '-no-progress', '-comp', 'xz', '-b', '1M'] },
  'zstd19-1m': { label: 'squashfs zstd-19 1M', command: 'mksquashfs', args: (tree, out) => [tree, out, '-noappend', '-all-root', '-no-xattrs', '-quiet', '-no-progress', '-comp', 'zstd', '-Xcompression-level', '19', '-b', '1M'] },
  'erofs-lz4hc': { label: 'erofs lz4hc', command: 'mkfs.erofs', args: (tree, out) => ['-zlz4hc,12', '-C65536', '-Efragments,ztailpacking', '--all-root', '--quiet', out, tree] },
};
export const GOAL_RATIO = 0.8;

/**
 * Stages each target's image with the builder (downloads into `cacheDir`), then makes it with
 * every compressor. `synthetic` marks images whose inputs are the bench's fake binaries:
 * their sizes say little about how real binaries compress, unlike the Debian closures.
 */
export async function measureSizes(builder, targets, { cacheDir, scratch, log }) {
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
      for (const [name, compressor] of Object.entries(COMPRESSORS)) {
        const out = path.join(work, `${name}.img`);
        const started = performance.now();
        await execFileAsync(compressor.command, compressor.args(tree, out));
        seconds[name] = Math.round(performance.now() - started) / 1000;
        bytes[name] = (await stat(out)).size;
        await rm(out);
      }
      const ratio = Object.fromEntries(Object.keys(COMPRESSORS).map((name) => [name, Number((bytes[name] / bytes.gzip).toFixed(3))]));
      rows.push({ image: plan.imageName, synthetic, stagedBytes, bytes, seconds, ratio });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  return { compressors: Object.fromEntries(Object.entries(COMPRESSORS).map(([name, c]) => [name, c.label])), goalRatio: GOAL_RATIO, images: rows, real: sumOf(rows.filter((r) => !r.synthetic)) };
}

/** Totals over the images made of real binaries: the numbers the default compressor rests on. */
function sumOf(rows) {
  const total = (key, name) => rows.reduce((sum, row) => sum + row[key][name], 0);
  const bytes = Object.fromEntries(Object.keys(COMPRESSORS).map((name) => [name, total('bytes', name)]));
  const seconds = Object.fromEntries(Object.keys(COMPRESSORS).map((name) => [name, Math.round(total('seconds', name) * 1000) / 1000]));
  const ratio = Object.fromEntries(Object.keys(COMPRESSORS).map((name) => [name, bytes.gzip ? Number((bytes[name] / bytes.gzip).toFixed(3)) : 0]));
  return { images: rows.map((r) => r.image), bytes, seconds, ratio };
}

export function printSizes({ images, real, goalRatio }, printTable) {
  const MiB = 1024 ** 2;
  const names = Object.keys(COMPRESSORS);
  console.log(`\nImage size per compressor (MiB, and × squashfs gzip; goal ≤ ${goalRatio.toFixed(2)}×)\n`);
  printTable(
    ['image', 'staged', ...names.map((n) => COMPRESSORS[n].label)],
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
      .filter((e) => e.manifest.debian)
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
