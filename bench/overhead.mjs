// pnpm bench: the builder's overhead against raw mksquashfs on the same staged trees, and the
// wall time of a no-op Turbo run. bench/README.md explains how to read the numbers.
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/** Release-pinned images need a target Flatcar release, as `bakehouse build` takes it. */
const flatcarVersion = process.env.BAKEHOUSE_FLATCAR_VERSION ?? JSON.parse(await readFile(new URL('../flatcar.json', import.meta.url), 'utf8')).version;

const REPO_ROOT = path.resolve(import.meta.dirname, '..');
const RESULTS_FILE = path.join(REPO_ROOT, 'bench/results/latest.json');
/** Odd, so the median is a measured run. */
const RUNS = 3;
const AIM_RATIO = 1.1;
/** The builder's own flags (compression included) minus its timestamp pinning, which costs mksquashfs nothing. Set once the builder is imported. */
let RAW_MKSQUASHFS_FLAGS;
const MiB = 1024 ** 2;

/** What each step of buildImage() (packages/builder/src/build.ts) is called in the report. */
const STEPS = {
  fetch: 'fetch: download + verify (cold cache)',
  verifyCached: 'fetch: re-hash cached download (warm)',
  unpack: '  unpack alone (part of stage)',
  stage: 'stage: unpack, files/, generated, timestamps',
  listTree: 'list staged tree',
  lint: 'lint',
  makeImage: 'image: makeImage (mksquashfs)',
  sha256: 'sha256 of the image',
};

const execFileAsync = promisify(execFile);
const benchStarted = performance.now();

// What follows imports the packages' dist/: build them first (a Turbo cache hit when nothing
// changed). Turbo's log goes to stderr, keeping stdout for the report.
const packagesBuild = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=./packages/*', '--filter=./tools/*', '--output-logs=errors-only'], {
  cwd: REPO_ROOT,
  stdio: ['ignore', 2, 2],
});
if (packagesBuild.status !== 0) {
  console.error('bench: the workspace packages do not build (see above)');
  process.exit(1);
}
const builder = await import('../packages/builder/dist/index.js');
RAW_MKSQUASHFS_FLAGS = [...builder.SQUASHFS_COMPRESSORS[builder.DEFAULT_SQUASHFS_COMPRESSION], '-noappend', '-all-root', '-no-xattrs', '-quiet', '-no-progress'];
const { freshCheckout, serveDirectory } = await import('../tools/fixtures/dist/index.js');
const { loadAllExtensions, requireLock } = await import('../packages/cli/dist/workspace.js');
const { writeFakeUpstream } = await import('./fake-upstream.mjs');
const { timeNoopTurboRun, flatcarBumpRebuilds } = await import('./turbo-noop.mjs');
const { measureSizes, printSizes } = await import('./sizes.mjs');

const scratch = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-bench-'));
const siteDir = path.join(scratch, 'site');
const upstream = await serveDirectory(siteDir);
/** The Turbo runs build every extension from fake upstream files: in a throw-away checkout, so the repository's dist/ never holds them. */
let turboWorkspace;
try {
  // Every image a full build makes: each extension's locked versions (one per line) for each arch.
  const targets = (await loadAllExtensions(REPO_ROOT)).flatMap((extension) =>
    requireLock(extension).images.flatMap((image) => extension.manifest.arch.map((arch) => ({ ...extension, image, arch }))),
  );
  // The fake assets of one extension have the same sizes in every line and arch, so they cost the
  // builder the same: one image per extension is measured, which keeps the run to a few minutes.
  // Debian closures come from the real archive, which a fake upstream cannot stand in for.
  const measured = targets.filter((target) => !target.manifest.debian && target.image === target.lock.images[0] && target.arch === target.manifest.arch[0]);
  const measuredPlans = measured.map((target) => planFor(target));
  log(`writing realistic upstream assets for ${measuredPlans.map((plan) => plan.imageName).join(', ')}`);
  const sources = await writeFakeUpstream(measuredPlans, path.join(siteDir, 'realistic'), `${upstream.url}/realistic`, 1);

  const loadAtStart = os.loadavg()[0];
  const images = [];
  for (const target of measured) images.push(await measureImage(target, sources));

  log('timing a no-op `pnpm exec turbo run build`');
  // Only the second Turbo run is timed; the first just brings every dist/ up to date, which tiny assets keep quick.
  const turboSources = await writeFakeUpstream(targets.map((target) => planFor(target)), path.join(siteDir, 'tiny'), `${upstream.url}/tiny`, 1 / 1024);
  const sourcesFile = path.join(scratch, 'sources.json');
  await writeFile(sourcesFile, JSON.stringify(turboSources));
  // A new sources path each run: Turbo hashes the variable's value, so the first run rebuilds against this upstream.
  // The workspace packages come from the repository's Turbo cache (hits); a remote cache never receives the fakes.
  const { TURBO_API: _api, TURBO_TOKEN: _token, TURBO_TEAM: _team, ...env } = process.env;
  const turboEnv = { ...env, BAKEHOUSE_SOURCES: sourcesFile, BAKEHOUSE_CACHE_DIR: path.join(scratch, 'turbo-cache'), TURBO_CACHE_DIR: path.join(REPO_ROOT, '.turbo/cache'), TURBO_TELEMETRY_DISABLED: '1' };
  turboWorkspace = await freshCheckout(REPO_ROOT);
  const turboNoop = { command: 'pnpm exec turbo run build', ...(await timeNoopTurboRun(turboWorkspace, turboEnv)) };

  log('counting what a Flatcar release bump rebuilds (turbo --dry-run)');
  const imagesOf = {};
  for (const target of targets) imagesOf[target.manifest.name] = (imagesOf[target.manifest.name] ?? 0) + 1;
  const flatcarBump = await flatcarBumpRebuilds(turboWorkspace, turboEnv, nextFlatcarRelease(flatcarVersion), imagesOf);

  // Sizes: one image per extension, staged by the builder; the Debian closures' packages are
  // already in the Turbo run's cache, the other inputs are the realistic fake assets.
  const sizeTargets = targets
    .filter((target) => target.image === target.lock.images[0] && target.arch === target.manifest.arch[0])
    .map((target) => ({ synthetic: !target.manifest.debian, plan: planFor(target, sources) }));
  const sizes = await measureSizes(builder, sizeTargets, { cacheDir: turboEnv.BAKEHOUSE_CACHE_DIR, scratch, log });

  const results = {
    generatedAt: new Date().toISOString(),
    // Other work on the machine skews timings; 1-minute load averages say how much there was.
    host: {
      cpus: os.cpus().length,
      loadAverage: { atStart: loadAtStart, atEnd: os.loadavg()[0] },
      node: process.version,
      mksquashfs: await builder.requireTool('mksquashfs'),
    },
    benchSeconds: secondsSince(benchStarted),
    runs: RUNS,
    aimRatio: AIM_RATIO,
    images,
    total: totalOf(images),
    turboNoop,
    flatcarBump,
    sizes,
  };
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  printReport(results);
} finally {
  await upstream.close();
  await rm(scratch, { recursive: true, force: true });
  if (turboWorkspace) await rm(turboWorkspace, { recursive: true, force: true });
}

/**
 * Times the builder's steps one by one (once: together they are a whole cold build), then,
 * RUNS times each: the whole builder with an empty download cache (cold), again with that cache
 * filled (warm), and raw mksquashfs on the tree the step-by-step build staged.
 */
async function measureImage(target, sources) {
  const plan = planFor(target, sources);
  log(`measuring ${plan.imageName}`);
  const work = await mkdtemp(path.join(scratch, `${plan.imageName}-`));
  const fresh = (name) => mkdtemp(path.join(work, `${name}-`));

  const { stepSeconds, stageDir, tree } = await timeSteps(plan, fresh);
  const rawImage = path.join(work, 'raw.sqfs');
  const samples = { builderCold: [], builderWarm: [], rawMksquashfs: [] };
  let imageBytes;
  for (let run = 0; run < RUNS; run++) {
    const cacheDir = await fresh('cache');
    const build = async () => {
      const started = performance.now();
      const [built] = await builder.buildExtension(target.manifest, lockOf(target), target.dir, buildOptions(target, sources, cacheDir, await fresh('dist')));
      imageBytes = built.record.image.bytes;
      return secondsSince(started);
    };
    samples.builderCold.push(await build());
    samples.builderWarm.push(await build());
    samples.rawMksquashfs.push(await timeCommand('mksquashfs', [stageDir, rawImage, ...RAW_MKSQUASHFS_FLAGS]));
    await rm(cacheDir, { recursive: true, force: true });
  }
  const rawMksquashfsImageBytes = (await stat(rawImage)).size;
  await rm(work, { recursive: true, force: true });

  const seconds = { rawMksquashfs: median(samples.rawMksquashfs), builderWarm: median(samples.builderWarm), builderCold: median(samples.builderCold) };
  return {
    image: plan.imageName,
    stagedBytes: tree.reduce((sum, entry) => sum + entry.size, 0),
    imageBytes,
    rawMksquashfsImageBytes,
    seconds,
    ratio: ratiosOf(seconds),
    stepSeconds,
    samples,
  };
}

/** buildImage()'s steps, in its order and with its calls, each timed alone. Leaves the staged tree in place. */
async function timeSteps(plan, fresh) {
  const stepSeconds = {};
  const step = async (name, run) => {
    const started = performance.now();
    const result = await run();
    stepSeconds[name] = secondsSince(started);
    return result;
  };
  const cacheDir = await fresh('cache');
  await step('fetch', () => fetchInputs(plan, cacheDir));
  const downloads = await step('verifyCached', () => fetchInputs(plan, cacheDir));
  const unpackDir = await fresh('unpack');
  await step('unpack', async () => {
    for (const input of plan.inputs) await builder.unpackInput(downloads.get(input.name), input, unpackDir);
  });
  const stageDir = await fresh('stage');
  await step('stage', () => builder.stageTree(plan, { inputs: downloads, debs: [] }, stageDir));
  const tree = await step('listTree', () => builder.listTree(stageDir));
  await step('lint', () => builder.lintTree(plan, stageDir, tree));
  const image = path.join(await fresh('image'), `${plan.imageName}.raw`);
  await step('makeImage', () =>
    builder.makeImage({ stageDir, output: image, format: plan.format, sourceDateEpoch: plan.sourceDateEpoch, identity: plan.imageName }),
  );
  await step('sha256', () => builder.sha256File(image));
  await rm(unpackDir, { recursive: true, force: true });
  return { stepSeconds, stageDir, tree };
}

/** The inputs downloaded (in parallel, as buildImage does) into `cacheDir`: input name → cached file. */
async function fetchInputs(plan, cacheDir) {
  return new Map(await Promise.all(plan.inputs.map(async (input) => [input.name, await builder.fetchDownload(input, { cacheDir })])));
}

/** The baseline is mksquashfs, so every image is built as squashfs whatever its manifest says. */
function planFor({ manifest, image, dir, arch }, sources) {
  return builder.resolvePlan(manifest, image, { extensionDir: dir, arch, format: 'squashfs', flatcarVersion, sources });
}

/** The target's lock narrowed to its one image version, so buildExtension builds just that image. */
function lockOf({ lock, image }) {
  return { ...lock, images: [image] };
}

function buildOptions({ arch }, sources, cacheDir, distDir) {
  return { arches: [arch], format: 'squashfs', flatcarVersion: process.env.BAKEHOUSE_FLATCAR_VERSION, sources, distDir, fetch: { cacheDir } };
}

async function timeCommand(command, args) {
  const started = performance.now();
  await execFileAsync(command, args);
  return secondsSince(started);
}

/** Sums over all images: the ratio a full `bakehouse build` would see. */
function totalOf(images) {
  const sum = (key) => Math.round(images.reduce((total, image) => total + image.seconds[key] * 1000, 0)) / 1000;
  const seconds = { rawMksquashfs: sum('rawMksquashfs'), builderWarm: sum('builderWarm'), builderCold: sum('builderCold') };
  return { seconds, ratio: ratiosOf(seconds) };
}

function ratiosOf({ rawMksquashfs, builderWarm, builderCold }) {
  const ratio = (builder) => Number((builder / rawMksquashfs).toFixed(3));
  return { warm: ratio(builderWarm), cold: ratio(builderCold) };
}

function printReport({ images, total, turboNoop, flatcarBump, sizes, runs, benchSeconds }) {
  const ratio = (value) => `${value.toFixed(2)}×`;
  const s = (value) => value.toFixed(2);
  console.log(`\nBuilder overhead against raw mksquashfs on the same staged tree (median of ${runs} runs, seconds)\n`);
  printTable(
    ['image', 'staged MiB', 'image MiB', 'raw mksquashfs', 'builder warm', 'ratio warm', 'builder cold', 'ratio cold'],
    [
      ...images.map((i) => [i.image, (i.stagedBytes / MiB).toFixed(1), (i.imageBytes / MiB).toFixed(1), s(i.seconds.rawMksquashfs), s(i.seconds.builderWarm), ratio(i.ratio.warm), s(i.seconds.builderCold), ratio(i.ratio.cold)]),
      ['all images', '', '', s(total.seconds.rawMksquashfs), s(total.seconds.builderWarm), ratio(total.ratio.warm), s(total.seconds.builderCold), ratio(total.ratio.cold)],
    ],
  );
  console.log(`\nwarm = download cache already filled: the builder's own overhead (aim: ratio ≤ ${AIM_RATIO.toFixed(2)}×).`);
  console.log('cold = empty download cache: adds the download from the loopback upstream and its verification.\n');
  console.log("Where the builder spends its time: buildImage()'s steps timed one by one (one cold run, seconds)\n");
  printTable(['step', ...images.map((i) => i.image)], Object.entries(STEPS).map(([step, label]) => [label, ...images.map((i) => s(i.stepSeconds[step]))]));
  const turboVerdict = turboNoop.fullTurbo ? 'FULL TURBO' : `NOT full turbo: it rebuilt ${turboNoop.rebuilt.join(', ')} (did files change meanwhile?)`;
  console.log(`\nNo-op \`${turboNoop.command}\` (second of two runs): ${s(turboNoop.seconds)} s, ${turboVerdict}`);
  console.log(`  against the run before it, which rebuilt ${turboNoop.coldRebuilt.length} tasks in ${s(turboNoop.coldSeconds)} s: ${(turboNoop.ratio * 100).toFixed(1)}% (${turboNoop.ratio.toFixed(3)}×)`);
  console.log(
    `Flatcar release bump to ${flatcarBump.version}: rebuilds ${flatcarBump.images.rebuilt} of ${flatcarBump.images.of} images ` +
      `(${flatcarBump.extensions.rebuilt} of ${flatcarBump.extensions.of} extensions: ${flatcarBump.extensions.names.join(', ') || 'none'})`,
  );
  printSizes(sizes, printTable);
  console.log(`Bench took ${Math.round(benchSeconds)} s; JSON: ${path.relative(REPO_ROOT, RESULTS_FILE)}`);
}

function printTable(header, rows) {
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column].length)));
  const line = (row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  console.log([line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n'));
}

/** A release after the target one, as a new Flatcar major would be. */
function nextFlatcarRelease(version) {
  const [major] = version.split('.');
  return `${Number(major) + 1}.0.0`;
}

function median(values) {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

/** Rounded to the millisecond: finer digits are noise. */
function secondsSince(started) {
  return Math.round(performance.now() - started) / 1000;
}

function log(message) {
  console.error(`bench [${Math.round(secondsSince(benchStarted))}s]: ${message}`);
}
