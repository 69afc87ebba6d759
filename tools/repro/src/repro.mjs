#!/usr/bin/env node
/**
 * Reproducibility check: two fresh clones of the work tree, two empty download caches, every
 * extension built for every arch in each, then every image's sha256 compared. url-source
 * extensions download from the fixture upstream the tests use (a loopback server); Debian
 * closures (podman, the OEM images) come from the real Debian archive. Any difference fails,
 * printing a diff of the two build records. Usage: node tools/repro/src/repro.mjs [--arch A] [--keep],
 * or --compare DIR_A DIR_B to compare the build records of two existing trees only.
 */
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { containerdUpstream, dockerUpstream, hashicorpUpstream, k3sTailscaleCiliumUpstream, kubernetesUpstream, REPO_ROOT, runtimesUpstream, serveDirectory, wasmtimeUpstream } from '@bakehouse/fixtures';

const { values: flags, positionals } = parseArgs({
  options: { arch: { type: 'string', default: 'all' }, keep: { type: 'boolean', default: false }, compare: { type: 'boolean', default: false } },
  allowPositionals: true,
});
const started = performance.now();
const SHARED_DOWNLOADS = process.env.BAKEHOUSE_CACHE_DIR ?? path.join(os.homedir(), '.cache/bakehouse');
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)}s`;
const log = (message) => process.stderr.write(`repro [${elapsed()}] ${message}\n`);

if (flags.compare) process.exit(await compareClones(positionals[0], positionals[1]));

const work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-repro-'));
const site = path.join(work, 'site');
await mkdir(site);
const upstream = await serveDirectory(site);
let exitCode = 1;
const clones = [];
try {
  const sources = {
    ...(await containerdUpstream(site, upstream.url)),
    ...(await dockerUpstream(site, upstream.url, '28.5.2')),
    ...(await kubernetesUpstream(site, upstream.url, { releases: { '1.36.3': '1.36.0', '1.35.7': '1.35.0' }, cni: '1.9.1' })),
    ...(await k3sTailscaleCiliumUpstream(site, upstream.url)),
    ...(await runtimesUpstream(site, upstream.url)),
    ...(await hashicorpUpstream(site, upstream.url, { consul: '2.0.2', nomad: '2.0.4', vault: '2.0.3' })),
    ...(await wasmtimeUpstream(site, upstream.url, '0.40.1')),
  };
  const sourcesFile = path.join(work, 'sources.json');
  await writeFile(sourcesFile, JSON.stringify(sources, null, 2));

  log('cloning the work tree twice');
  await Promise.all([cloneWorkTree(), cloneWorkTree()]);

  log(`building every extension (--arch ${flags.arch}) in both clones, each with its own empty cache`);
  await Promise.all(clones.map((clone, i) => buildAll(clone, sourcesFile, i)));

  exitCode = await compareClones(clones[0], clones[1]);
} finally {
  await upstream.close();
  if (!flags.keep) await Promise.all([work, ...clones].map((dir) => rm(dir, { recursive: true, force: true })));
  else log(`kept ${[work, ...clones].join(' ')}`);
}
process.exit(exitCode);

/** Compares every build record of two trees; prints the table and a diff per difference. Returns the exit code. */
async function compareClones(cloneA, cloneB) {
  log('comparing');
  const [a, b] = await Promise.all([cloneA, cloneB].map(readRecords));
  const rows = [];
  let differences = 0;
  for (const file of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const left = a.get(file);
    const right = b.get(file);
    // The record names its SBOM's sha256: an SBOM that differs makes the build irreproducible as well.
    const same = left !== undefined && right !== undefined && left.record.image.sha256 === right.record.image.sha256 && left.record.sbom?.sha256 === right.record.sbom?.sha256;
    rows.push([file, left?.record.image.sha256.slice(0, 16) ?? '(missing)', right?.record.image.sha256.slice(0, 16) ?? '(missing)', same ? 'identical' : 'DIFFERENT']);
    if (same) continue;
    differences++;
    if (left && right) {
      const diff = await execa('git', ['diff', '--no-index', '--no-color', left.path, right.path], { reject: false });
      process.stdout.write(`\n${file}: the two builds differ\n${diff.stdout}\n`);
    } else {
      process.stdout.write(`\n${file}: built in only one clone\n`);
    }
  }
  printTable(['build record', 'clone A sha256', 'clone B sha256', ''], rows);
  if (rows.length === 0) log('no images were built');
  else if (differences) log(`${differences} of ${rows.length} images differ: not reproducible`);
  else log(`all ${rows.length} images are bit-identical`);
  return rows.length > 0 && differences === 0 ? 0 : 1;
}

async function buildAll(clone, sourcesFile, index) {
  const env = {
    CI: '1',
    BAKEHOUSE_SOURCES: sourcesFile,
    BAKEHOUSE_CACHE_DIR: path.join(clone, '.repro-cache'),
    // The downloads the tests already verified serve as a mirror (same sha256/ layout), so 28
    // extensions' .debs are not fetched from the Debian archive twice more; each clone still
    // starts from its own empty cache, so nothing else it built before can leak into an image.
    ...(existsSync(path.join(SHARED_DOWNLOADS, 'sha256')) ? { BAKEHOUSE_MIRROR: SHARED_DOWNLOADS } : {}),
    BAKEHOUSE_ARCH: flags.arch,
    SOURCE_DATE_EPOCH: '',
  };
  const result = await execa('pnpm', ['exec', 'bakehouse', 'build', '--quiet'], { cwd: clone, env, reject: false, all: true });
  if (result.exitCode !== 0) throw new Error(`the build in clone ${'AB'[index]} (${clone}) failed:\n${result.all}`);
  log(`clone ${'AB'[index]} built`);
}

/**
 * A fresh copy of the work tree (tracked and unignored files, as `git status` sees them), its
 * own node_modules from the local pnpm store, and the workspace packages' dist/ from this
 * repository: the builder under test is the one `pnpm test` just built, so the clones need not
 * compile it twice more. Their images, caches and extension sources are their own.
 */
async function cloneWorkTree() {
  const root = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-repro-clone-'));
  clones.push(root);
  const { stdout } = await execa('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT });
  for (const file of stdout.split('\0').filter(Boolean)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await cp(path.join(REPO_ROOT, file), path.join(root, file), { verbatimSymlinks: true }).catch((error) => {
      if (error.code !== 'ENOENT') throw error; // deleted in the work tree but still in the index
    });
  }
  for (const group of ['packages', 'tools']) {
    for (const name of await readdir(path.join(REPO_ROOT, group))) {
      const dist = path.join(REPO_ROOT, group, name, 'dist');
      if (await stat(dist).catch(() => undefined)) await cp(dist, path.join(root, group, name, 'dist'), { recursive: true });
    }
  }
  await execa('pnpm', ['install', '--offline', '--frozen-lockfile=false', '--ignore-scripts', '--reporter=silent'], { cwd: root });
}

/** Every dist/*.json build record (not the .spdx.json SBOMs beside them), by extension/file. */
async function readRecords(clone) {
  const records = new Map();
  for (const extension of await readdir(path.join(clone, 'extensions'))) {
    const dist = path.join(clone, 'extensions', extension, 'dist');
    for (const file of (await readdir(dist).catch(() => [])).filter((f) => f.endsWith('.json') && !f.endsWith('.spdx.json')).sort()) {
      const full = path.join(dist, file);
      records.set(`${extension}/${file}`, { path: full, record: JSON.parse(await readFile(full, 'utf8')) });
    }
  }
  return records;
}

function printTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  process.stdout.write(`${[line(header), ...rows.map(line)].join('\n')}\n`);
}
