import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Arch, ExtensionLock, ExtensionManifest, ImageFormat, SourceOverrides } from '@bakehouse/schema';
import { writeFileAtomic } from './atomic.js';
import pLimit from 'p-limit';
import { FetchError, fetchDownload, type FetchOptions } from './fetch/index.js';
import { sha256File } from './hash.js';
import { makeImage } from './image.js';
import { lintTree, type LintProblem } from './lint.js';
import { resolvePlan, type BuildPlan } from './plan.js';
import { createRecord, finishDist, type BuildRecord } from './record.js';
import { stageTree } from './stage.js';
import { listTree } from './tree.js';

export interface BuildOptions {
  arches: readonly Arch[];
  format?: ImageFormat;
  /** Where NAME-VERSION-ARCH.raw, .json and SHA256SUMS go; by default the extension's dist/. */
  distDir?: string;
  fetch: FetchOptions;
  flatcarVersion?: string;
  sources?: SourceOverrides;
  sourceDateEpoch?: number;
}

export interface BuiltImage {
  plan: BuildPlan;
  record: BuildRecord;
  imagePath: string;
  durationMs: number;
}

export class LintError extends Error {
  override readonly name = 'LintError';
  constructor(
    readonly extension: string,
    readonly problems: LintProblem[],
  ) {
    super(`${extension}: the staged image breaks ${problems.length} rule(s):\n${problems.map((p) => `  - [${p.rule}] ${p.message}`).join('\n')}`);
  }
}

/** Builds every locked image version (one per line) for every requested arch into dist/, then writes SHA256SUMS. */
export async function buildExtension(manifest: ExtensionManifest, lock: ExtensionLock, extensionDir: string, options: BuildOptions): Promise<BuiltImage[]> {
  const distDir = options.distDir ?? path.join(extensionDir, 'dist');
  await mkdir(distDir, { recursive: true });
  const built: BuiltImage[] = [];
  for (const image of lock.images)
    for (const arch of options.arches) {
      const plan = resolvePlan(manifest, image, {
        extensionDir,
        arch,
        format: options.format,
        flatcarVersion: options.flatcarVersion,
        sources: options.sources,
        sourceDateEpoch: options.sourceDateEpoch,
      });
      built.push(await buildImage(plan, distDir, options.fetch));
    }
  await finishDist(distDir, manifest.name, built.map((b) => b.record));
  return built;
}

/** plan → fetch → stage → lint → image → record, for one arch. Nothing lands in distDir unless every step passed. */
export async function buildImage(plan: BuildPlan, distDir: string, fetchOptions: FetchOptions): Promise<BuiltImage> {
  const started = performance.now();
  const [downloads, debs] = await Promise.all([
    Promise.all(plan.inputs.map(async (input) => [input.name, await fetchDownload(input, fetchOptions)] as const)).then((pairs) => new Map(pairs)),
    fetchClosure(plan, fetchOptions),
  ]);

  const stageDir = await mkdtemp(path.join(os.tmpdir(), `bakehouse-${plan.imageName}-`));
  try {
    await stageTree(plan, { inputs: downloads, debs }, stageDir);
    const tree = await listTree(stageDir);
    const problems = await lintTree(plan, stageDir, tree);
    if (problems.length) throw new LintError(plan.name, problems);

    const imagePath = path.join(distDir, `${plan.imageName}.raw`);
    const tool = await makeImage({ stageDir, output: imagePath, format: plan.format, sourceDateEpoch: plan.sourceDateEpoch, identity: plan.imageName });
    const [sha256, { size }] = await Promise.all([sha256File(imagePath), stat(imagePath)]);
    const record = createRecord(plan, { file: path.basename(imagePath), sha256, bytes: size }, tree, { [tool.tool]: tool.version });
    await writeFileAtomic(path.join(distDir, `${plan.imageName}.json`), `${JSON.stringify(record, null, 2)}\n`);
    return { plan, record, imagePath, durationMs: performance.now() - started };
  } finally {
    await rm(stageDir, { recursive: true, force: true });
  }
}

/** The closure's .debs, a few at a time: a closure has dozens, and the archive is one server. */
async function fetchClosure(plan: BuildPlan, fetchOptions: FetchOptions): Promise<string[]> {
  if (!plan.closure) return [];
  const limit = pLimit(6);
  return Promise.all(
    plan.closure.debs.map((deb) =>
      limit(() =>
        fetchDownload(deb, fetchOptions).catch((error: unknown) => {
          if (!(error instanceof FetchError)) throw error;
          throw new FetchError(
            error.input,
            error.url,
            `${error.message}\nThe lock pins ${deb.name} ${deb.version}; Debian drops superseded versions from its archive. Run \`bakehouse bump ${plan.name}\` to resolve the closure again.`,
            { cause: error },
          );
        }),
      ),
    ),
  );
}
