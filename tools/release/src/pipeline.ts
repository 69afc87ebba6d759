import path from 'node:path';
import type { ReleaseIndex } from '@bakehouse/schema';
import { extensionReleases, type ExtensionRelease, type ReleasePolicy } from './policy.js';
import { builtImages, publishedImages, type BuiltImage } from './images.js';
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
}

/** The side effects of a release, one function per step, so tests and partial environments can swap them. */
export interface ReleaseSteps {
  resolveFlatcar(channel: string, board: string): Promise<string>;
  listExtensions(): Promise<ExtensionInfo[]>;
  bump(name: string): Promise<StepResult>;
  /** Builds the named extensions through Turbo in one run; a result per name. */
  build(names: readonly string[], env: Record<string, string>): Promise<Record<string, StepResult>>;
  bootTest(name: string, flatcarVersion: string | undefined): Promise<StepResult>;
  publish(name: string, tree: string, options: { baseUrl?: string; previous?: string; keep?: number }): Promise<StepResult>;
}

export type StepName = 'policy' | 'flatcar' | 'bump' | 'build' | 'compare' | 'boot-test' | 'publish';

export interface Outcome {
  extension: string;
  channel?: string;
  /** tested: built and boot-tested, not published (--no-publish). */
  status: 'published' | 'tested' | 'up-to-date' | 'planned' | 'failed';
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

  const flatcar: Record<string, string> = {};
  const flatcarErrors: Record<string, string> = {};
  for (const channel of policy.flatcar.channels) {
    try {
      flatcar[channel] = await steps.resolveFlatcar(channel, policy.flatcar.board);
      log(`flatcar ${channel}: ${flatcar[channel]}`);
    } catch (error) {
      flatcarErrors[channel] = (error as Error).message;
      log(`flatcar ${channel}: ${flatcarErrors[channel]}`);
    }
  }

  for (const release of releases.filter((r) => r.track === 'latest' && !failed(r.name))) {
    if (options.dryRun) {
      log(`${release.name}: would check upstream and bump`);
      continue;
    }
    const result = await steps.bump(release.name);
    if (!result.ok) fail(release.name, 'bump', result.output);
    else log(lastLines(result.output, 3));
  }
  if (!options.dryRun) extensions = await steps.listExtensions();

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

    if (options.dryRun) {
      for (const release of ready) outcomes.push(plannedOutcome(release, info(release.name), channel, index));
      continue;
    }

    const built = await buildChannel(ready, channel, flatcar[channel], steps, extensions);
    for (const release of ready) {
      const result = built[release.name]!;
      if (!result.ok) {
        fail(release.name, 'build', result.output, channel);
        continue;
      }
      const images = (await builtImages(path.join(options.root, 'extensions', release.name, 'dist'))).filter((image) => (release.arch as string[]).includes(image.arch));
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
      if (options.bootTests !== false) {
        const test = await steps.bootTest(release.name, flatcar[channel]);
        if (!test.ok) {
          fail(release.name, 'boot-test', test.output, channel);
          continue;
        }
      }
      const files = fresh.map((i) => i.file).sort();
      if (options.publish === false) {
        outcomes.push({ extension: release.name, channel, status: 'tested', detail: `built${options.bootTests === false ? '' : ' and boot-tested'} ${files.join(', ')}; not published`, images: files });
        continue;
      }
      const publish = await steps.publish(release.name, tree, { baseUrl, previous, keep: policy.publish.keep });
      if (!publish.ok) {
        fail(release.name, 'publish', publish.output, channel);
        continue;
      }
      outcomes.push({ extension: release.name, channel, status: 'published', detail: `published ${files.join(', ')}`, images: files });
      log(`${release.name} (${channel}): published ${files.join(', ')}`);
    }
  }

  outcomes.sort((a, b) => a.extension.localeCompare(b.extension) || (a.channel ?? '').localeCompare(b.channel ?? ''));
  const report: ReleaseReport = { flatcar, outcomes, ok: !outcomes.some((o) => o.status === 'failed') };
  const published = outcomes.filter((o) => o.status === 'published');
  if (published.length > 0) {
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
  const summary = dryRun ? 'dry run: nothing was changed' : published === 0 ? 'nothing new to publish' : `published ${published} extension release(s); notes in ${report.notesFile}`;
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
  if (release.track === 'latest' && release.lines === undefined && info.lines) return `the manifest declares lines ${info.lines.join(', ')}: list them in release.yaml too`;
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
