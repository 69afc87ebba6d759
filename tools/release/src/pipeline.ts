import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ReleaseIndex, TestRecord } from '@bakehouse/schema';
import { testRecordFile } from './evidence.js';
import { extensionReleases, type ExtensionRelease, type ReleasePolicy } from './policy.js';
import { builtImages, publishedImages, stageImages, StageError, type BuiltImage } from './images.js';
import { collectNotes } from './notes.js';

/** What a step run as a subprocess (or in-process) reports: success, and its output for the report. */
export interface StepResult {
  ok: boolean;
  output: string;
}

/** An extension as `bakehouse list --json` describes it. */
export interface ExtensionInfo {
  name: string;
  versions: string[];
  compat: string;
  arch: string[];
  lines?: string[];
  /** Where the lines come from when upstream's support window decides them ("kubernetes-schedule"); `lines` are then the lock's. */
  lineSource?: string;
}

/** A boot test's outcome: one test record per image booted, whatever the result. */
export interface BootTestResult extends StepResult {
  records: TestRecord[];
}

export interface PublishStepOptions {
  baseUrl?: string;
  previous?: string;
  keep?: number;
  /** The directory holding DIR/NAME/ with the images to publish (the stage), instead of the extension's dist/. */
  from: string;
  /** Publish only images with a passing test record of exactly their bytes. */
  requireTests: boolean;
  /** The channel's Flatcar release, which release-pinned images must carry. */
  flatcarVersion?: string;
}

/** The side effects of a release, one function per step, so tests and partial environments can swap them. */
export interface ReleaseSteps {
  resolveFlatcar(channel: string, board: string): Promise<string>;
  listExtensions(): Promise<ExtensionInfo[]>;
  bump(name: string): Promise<StepResult>;
  /** Builds the named extensions through Turbo in one run; a result per name. */
  build(names: readonly string[], env: Record<string, string>): Promise<Record<string, StepResult>>;
  /** The architecture the boot tests can boot (the host's). */
  bootArch(): string;
  /** Boots each staged image (files in `dir`) and returns a test record of each. */
  bootTest(name: string, dir: string, images: readonly BuiltImage[], flatcarVersion: string | undefined): Promise<BootTestResult>;
  publish(name: string, tree: string, options: PublishStepOptions): Promise<StepResult>;
}

export type StepName = 'policy' | 'flatcar' | 'bump' | 'build' | 'compare' | 'boot-test' | 'publish';

export interface Outcome {
  extension: string;
  channel?: string;
  /** tested: built and boot-tested, not published (--no-publish). bumped: --bump-only. */
  status: 'published' | 'tested' | 'bumped' | 'up-to-date' | 'planned' | 'failed';
  /** The step that failed. */
  step?: StepName;
  detail: string;
  /** Image files published (or, in a dry run, that would be). */
  images: string[];
}

export interface ReleaseReport {
  flatcar: Record<string, string>;
  outcomes: Outcome[];
  notesFile?: string;
  ok: boolean;
}

export interface ReleaseOptions {
  root: string;
  policy: ReleasePolicy;
  dryRun?: boolean;
  /** Boot-test new images (needs systemd-nspawn); off for hosts without it. */
  bootTests?: boolean;
  /** Publish (and write notes); off to only build and boot-test, e.g. on a runner of another arch. */
  publish?: boolean;
  /** Only these extensions of the policy. */
  only?: readonly string[];
  /** Where release notes go; default PUBLISH_OUT/RELEASE-NOTES.md. */
  notesFile?: string;
  /** Bump the extensions that track upstream (default); off when the locks were bumped by an earlier job. */
  bump?: boolean;
  /** Only resolve Flatcar and bump: what the first job of the workflow does, whose locks the others use. */
  bumpOnly?: boolean;
  /** Each channel's Flatcar release, as an earlier job resolved it; resolved from the release servers when absent. */
  flatcar?: Record<string, string>;
  /**
   * Where the images to test and publish are kept: STAGE/CHANNEL/NAME/ with each image, its build
   * record and its test record, and STAGE/flatcar.json. Default: a temporary directory, removed at the end.
   */
  stageDir?: string;
  /** Publish what an earlier run staged and tested there: no bump, build or boot test; every image needs a passing test record. */
  fromStage?: string;
  /** The index.json of a published tree (a directory or URL), or undefined before its first publish. */
  readIndex(tree: string): Promise<ReleaseIndex | undefined>;
  log(line: string): void;
}

/**
 * One scheduled release: resolve each channel's Flatcar release, bump what tracks upstream,
 * build through Turbo, boot-test and publish the images the channel's tree does not hold yet,
 * then write release notes from the changesets. An extension that fails at any step is reported
 * and left out of the later steps; the others go on.
 */
export async function runRelease(options: ReleaseOptions, steps: ReleaseSteps): Promise<ReleaseReport> {
  const { policy, log } = options;
  const outcomes: Outcome[] = [];
  const fail = (extension: string, step: StepName, detail: string, channel?: string) => {
    outcomes.push({ extension, ...(channel ? { channel } : {}), status: 'failed', step, detail, images: [] });
    log(`${extension}${channel ? ` (${channel})` : ''}: ${step} failed: ${lastLines(detail)}`);
  };
  const failed = (name: string, channel?: string) => outcomes.some((o) => o.extension === name && o.status === 'failed' && (o.channel === undefined || o.channel === channel));

  let releases = extensionReleases(policy);
  if (options.only?.length) {
    const unknown = options.only.filter((name) => !releases.some((r) => r.name === name));
    for (const name of unknown) fail(name, 'policy', `release.yaml does not release "${name}"; it lists ${releases.map((r) => r.name).join(', ')}`);
    releases = releases.filter((r) => options.only!.includes(r.name));
  }

  let extensions = await steps.listExtensions();
  for (const release of releases) {
    const problem = policyProblem(release, extensions.find((e) => e.name === release.name));
    if (problem) fail(release.name, 'policy', problem);
  }

  const flatcar: Record<string, string> = options.fromStage ? await readStagedFlatcar(options.fromStage) : { ...options.flatcar };
  const flatcarErrors: Record<string, string> = {};
  for (const channel of policy.flatcar.channels) {
    if (flatcar[channel] !== undefined) {
      log(`flatcar ${channel}: ${flatcar[channel]}${options.fromStage ? ' (as staged)' : options.flatcar ? ' (given)' : ''}`);
      continue;
    }
    try {
      flatcar[channel] = await steps.resolveFlatcar(channel, policy.flatcar.board);
      log(`flatcar ${channel}: ${flatcar[channel]}`);
    } catch (error) {
      flatcarErrors[channel] = (error as Error).message;
      log(`flatcar ${channel}: ${flatcarErrors[channel]}`);
    }
  }

  if (!options.fromStage && options.bump !== false)
    for (const release of releases.filter((r) => r.track === 'latest' && !failed(r.name))) {
      if (options.dryRun) {
        log(`${release.name}: would check upstream and bump`);
        continue;
      }
      const result = await steps.bump(release.name);
      if (!result.ok) fail(release.name, 'bump', result.output);
      else {
        log(lastLines(result.output, 3));
        if (options.bumpOnly) outcomes.push({ extension: release.name, status: 'bumped', detail: lastLines(result.output, 1), images: [] });
      }
    }
  if (options.bumpOnly) return finish(options, outcomes, flatcar, false);
  if (!options.dryRun) extensions = await steps.listExtensions();

  const ownStage = !options.fromStage && !options.stageDir && !options.dryRun;
  const stageRoot = options.fromStage ?? options.stageDir ?? (ownStage ? await mkdtemp(path.join(os.tmpdir(), 'bakehouse-release-stage-')) : '');
  try {
    if (!options.fromStage && !options.dryRun) {
      await mkdir(stageRoot, { recursive: true });
      await writeFile(path.join(stageRoot, STAGED_FLATCAR), `${JSON.stringify({ flatcar }, null, 2)}\n`);
    }
    for (const channel of policy.flatcar.channels) {
      const tree = path.resolve(options.root, policy.publish.out, channel);
      const baseUrl = policy.publish.baseUrl && `${policy.publish.baseUrl.replace(/\/+$/, '')}/${channel}`;
      const previous = policy.publish.previous && `${policy.publish.previous.replace(/\/+$/, '')}/${channel}`;
      const index = await options.readIndex(previous ?? tree);
      const members = releases.filter((r) => r.channels.includes(channel) && !failed(r.name));
      const info = (name: string) => extensions.find((e) => e.name === name)!;
      const ready = members.filter((r) => {
        if (info(r.name).compat !== 'release' || flatcar[channel] !== undefined) return true;
        fail(r.name, 'flatcar', `no Flatcar ${channel} release to build this release-pinned image for: ${flatcarErrors[channel]}`, channel);
        return false;
      });
      const channelStage = path.join(stageRoot, channel);
      const publishOptions = { baseUrl, previous, keep: policy.publish.keep, from: channelStage, flatcarVersion: flatcar[channel] };
      const publish = async (release: ExtensionRelease, files: string[], requireTests: boolean, note = '') => {
        if (options.publish === false) {
          outcomes.push({ extension: release.name, channel, status: 'tested', detail: `${requireTests ? 'built and boot-tested' : 'built'} ${files.join(', ')}; not published${note}`, images: files });
          return;
        }
        const result = await steps.publish(release.name, tree, { ...publishOptions, requireTests });
        if (!result.ok) {
          fail(release.name, 'publish', result.output, channel);
          return;
        }
        outcomes.push({ extension: release.name, channel, status: 'published', detail: `published ${files.join(', ')}${note}`, images: files });
        log(`${release.name} (${channel}): published ${files.join(', ')}${note}`);
      };

      if (options.dryRun) {
        for (const release of ready) outcomes.push(plannedOutcome(release, info(release.name), channel, index));
        continue;
      }

      if (options.fromStage) {
        for (const release of ready) {
          const staged = (await builtImages(path.join(channelStage, release.name))).filter((image) => (release.arch as string[]).includes(image.arch));
          if (staged.length === 0) {
            outcomes.push({ extension: release.name, channel, status: 'up-to-date', detail: `nothing staged in ${path.join(channelStage, release.name)}`, images: [] });
            continue;
          }
          const missing = missingArches(release, staged, publishedImages(index, release.name));
          if (missing.length) {
            fail(release.name, 'boot-test', `${missing.join(', ')}: not tested, so the version is not published on any arch (a boot-test job of that arch failed or left nothing)`, channel);
            continue;
          }
          await publish(release, staged.map((i) => i.file).sort(), true);
        }
        continue;
      }

      const built = await buildChannel(ready, channel, flatcar[channel], steps, extensions);
      for (const release of ready) {
        const result = built[release.name]!;
        if (!result.ok) {
          fail(release.name, 'build', result.output, channel);
          continue;
        }
        const distDir = path.join(options.root, 'extensions', release.name, 'dist');
        const images = (await builtImages(distDir)).filter((image) => (release.arch as string[]).includes(image.arch));
        const published = publishedImages(index, release.name);
        const fresh: BuiltImage[] = [];
        const changed: string[] = [];
        for (const image of images) {
          const previous = published.get(image.file);
          if (previous === undefined) fresh.push(image);
          else if (previous !== image.sha256) (info(release.name).compat === 'release' ? fresh.push(image) : changed.push(image.file));
        }
        if (changed.length) {
          fail(
            release.name,
            'compare',
            `${changed.join(', ')}: published with other content under the same version; systemd would not update hosts to it. For a packaging change, run bakehouse bump ${release.name} --revision -m "what changed"`,
            channel,
          );
          continue;
        }
        if (fresh.length === 0) {
          outcomes.push({ extension: release.name, channel, status: 'up-to-date', detail: `${images.map((i) => i.file).join(', ')} already published`, images: [] });
          continue;
        }
        const testing = options.bootTests !== false;
        // Only images of the arch this host boots can be tested here; the others wait for a host of their arch.
        const bootArch = testing ? steps.bootArch() : undefined;
        const selected = testing ? fresh.filter((i) => i.arch === bootArch) : fresh;
        const untestable = fresh.filter((i) => !selected.includes(i)).map((i) => i.file).sort();
        if (selected.length === 0) {
          fail(release.name, 'boot-test', `${untestable.join(', ')}: this host boots ${bootArch} images only; boot-test them on a host of their arch (release.yml runs one per arch)`, channel);
          continue;
        }
        const dir = path.join(channelStage, release.name);
        const staged = await stageImages(distDir, selected, dir);
        if (testing) {
          const test = await steps.bootTest(release.name, dir, staged, flatcar[channel]);
          for (const record of test.records) await writeFile(path.join(dir, testRecordFile(record.image)), `${JSON.stringify(record, null, 2)}\n`);
          if (!test.ok) {
            fail(release.name, 'boot-test', test.output, channel);
            continue;
          }
        }
        const note = untestable.length ? `; not ${options.publish === false ? 'staged' : 'published'} here, for want of a boot test on their arch: ${untestable.join(', ')}` : '';
        await publish(release, staged.map((i) => i.file).sort(), testing, note);
      }
    }
  } finally {
    if (ownStage) await rm(stageRoot, { recursive: true, force: true });
  }

  return finish(options, outcomes, flatcar, true);
}

/** The stage's record of the Flatcar release each channel's images were built for. */
export const STAGED_FLATCAR = 'flatcar.json';

async function readStagedFlatcar(stage: string): Promise<Record<string, string>> {
  const file = path.join(stage, STAGED_FLATCAR);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new StageError(`${file}: ${error.code === 'ENOENT' ? 'missing' : error.message}; --from-stage takes the --stage directory of a run that built and boot-tested the images`);
  });
  return (JSON.parse(text) as { flatcar: Record<string, string> }).flatcar;
}

/** Arches the policy releases whose image of a staged version is neither staged nor already published. */
function missingArches(release: ExtensionRelease, staged: readonly BuiltImage[], published: ReadonlyMap<string, string>): string[] {
  const missing: string[] = [];
  for (const version of new Set(staged.map((i) => i.version)))
    for (const arch of release.arch) {
      const file = `${release.name}-${version}-${arch}.raw`;
      if (!staged.some((i) => i.file === file) && !published.has(file)) missing.push(file);
    }
  return missing;
}

async function finish(options: ReleaseOptions, outcomes: Outcome[], flatcar: Record<string, string>, notes: boolean): Promise<ReleaseReport> {
  outcomes.sort((a, b) => a.extension.localeCompare(b.extension) || (a.channel ?? '').localeCompare(b.channel ?? ''));
  const report: ReleaseReport = { flatcar, outcomes, ok: !outcomes.some((o) => o.status === 'failed') };
  const published = outcomes.filter((o) => o.status === 'published');
  const { policy } = options;
  if (notes && published.length > 0) {
    const notesFile = path.resolve(options.root, options.notesFile ?? path.join(policy.publish.out, 'RELEASE-NOTES.md'));
    await collectNotes({ root: options.root, file: notesFile, published, flatcar });
    report.notesFile = notesFile;
  }
  return report;
}

/** The report as a table, one row per extension and channel, and a last line saying what happened. */
export function renderReport(report: ReleaseReport, dryRun?: boolean): string {
  const rows = report.outcomes.map((o) => `${o.extension.padEnd(16)} ${(o.channel ?? '-').padEnd(8)} ${(o.step ? `${o.status} (${o.step})` : o.status).padEnd(20)} ${o.detail.split('\n')[0]}`);
  const published = report.outcomes.filter((o) => o.status === 'published').length;
  const failed = report.outcomes.filter((o) => o.status === 'failed').length;
  const bumped = report.outcomes.filter((o) => o.status === 'bumped').length;
  const summary = dryRun
    ? 'dry run: nothing was changed'
    : bumped > 0
      ? `bumped ${bumped} extension(s); build, boot-test and publish them with --no-bump`
      : published === 0
        ? 'nothing new to publish'
        : `published ${published} extension release(s); notes in ${report.notesFile}`;
  return `${['extension        channel  status               detail', ...rows].join('\n')}\n\n${summary}${failed ? `; ${failed} failed` : ''}\n`;
}

/** Why the policy and the extension disagree, if they do. */
function policyProblem(release: ExtensionRelease, info: ExtensionInfo | undefined): string | undefined {
  if (!info) return `release.yaml releases "${release.name}", but extensions/ has no such extension`;
  if (info.versions.length === 0) return `extensions/${release.name} has no lock yet: run bakehouse bump ${release.name}`;
  const foreign = release.arch.filter((arch) => !info.arch.includes(arch));
  if (foreign.length) return `release.yaml asks for ${foreign.join(', ')}, which the manifest's "arch" does not list (${info.arch.join(', ')})`;
  if (release.lines && [...release.lines].sort().join() !== [...(info.lines ?? [])].sort().join())
    return `release.yaml follows lines ${release.lines.join(', ')}, the manifest declares ${info.lines?.join(', ') ?? 'none'}: make them agree`;
  // Lines that upstream's schedule decides change with each bump: release.yaml follows them without listing them.
  if (release.track === 'latest' && release.lines === undefined && info.lines && !info.lineSource) return `the manifest declares lines ${info.lines.join(', ')}: list them in release.yaml too`;
  return undefined;
}

/** Builds a channel's extensions in one Turbo run per arch selection, for the channel's Flatcar release. */
async function buildChannel(
  releases: readonly ExtensionRelease[],
  channel: string,
  flatcarVersion: string | undefined,
  steps: ReleaseSteps,
  extensions: readonly ExtensionInfo[],
): Promise<Record<string, StepResult>> {
  const groups = new Map<string, string[]>();
  for (const release of releases) {
    const manifestArch = extensions.find((e) => e.name === release.name)!.arch;
    const arch = release.arch.length === manifestArch.length ? 'all' : release.arch.join(',');
    groups.set(arch, [...(groups.get(arch) ?? []), release.name]);
  }
  const results: Record<string, StepResult> = {};
  for (const [arch, names] of groups) {
    // A single arch is BAKEHOUSE_ARCH; several that are not all of the manifest's cannot be: build all, publish the asked ones.
    const env = { BAKEHOUSE_ARCH: arch.includes(',') ? 'all' : arch, ...(flatcarVersion ? { BAKEHOUSE_FLATCAR_VERSION: flatcarVersion } : {}) };
    Object.assign(results, await steps.build(names, env));
  }
  for (const release of releases) results[release.name] ??= { ok: false, output: `Turbo reported no build of ${release.name} (${channel})` };
  return results;
}

function plannedOutcome(release: ExtensionRelease, info: ExtensionInfo, channel: string, index: ReleaseIndex | undefined): Outcome {
  const published = publishedImages(index, release.name);
  const expected = info.versions.flatMap((version) => release.arch.map((arch) => `${release.name}-${version}-${arch}.raw`));
  const missing = expected.filter((file) => !published.has(file));
  const pinned = info.compat === 'release' ? ' (rebuilt for each Flatcar release)' : '';
  return {
    extension: release.name,
    channel,
    status: 'planned',
    detail: missing.length ? `would build, boot-test and publish ${missing.join(', ')}${pinned}` : `locked versions already published${pinned}`,
    images: missing,
  };
}

/** The end of a step's output, where tools say what went wrong. */
function lastLines(text: string, n = 6): string {
  return text.trim().split('\n').slice(-n).join('\n');
}
