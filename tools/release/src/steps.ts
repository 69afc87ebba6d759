import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseExtension, parseReleaseIndex, RELEASE_INDEX_FILE, type ExtensionManifest, type ReleaseIndex } from '@bakehouse/schema';
import { ensureTestbedRoot, hostArch, runBootTests, type ImageTestResult } from '@bakehouse/testbed';
import { flatcarContext, readFlatcarRelease, resolveLatestFlatcar, type FlatcarBoard, type FlatcarChannel } from '@bakehouse/upstream';
import { execa } from 'execa';
import { createJiti } from 'jiti';
import { testRecord } from './evidence.js';
import { sha256File } from './images.js';
import type { BootTestResult, ExtensionInfo, ReleaseSteps, StepResult } from './pipeline.js';

/** Bound on one boot, start to power-off (as `bakehouse test`'s default). */
const BOOT_TIMEOUT_MS = 180_000;

/**
 * The real steps: the workspace's own `bakehouse` CLI and Turbo as subprocesses (so the release
 * depends on their command lines, not their internals), and the Flatcar release server over HTTP.
 */
export function workspaceSteps(root: string, env: NodeJS.ProcessEnv = process.env, options: { turboArgs?: readonly string[] } = {}): ReleaseSteps {
  const bakehouse = async (args: readonly string[], extraEnv: Record<string, string> = {}): Promise<StepResult> => {
    const result = await execa(process.execPath, [path.join(root, 'packages/cli/bin/bakehouse.js'), ...args], { cwd: root, env: { ...env, ...extraEnv }, extendEnv: false, reject: false, all: true });
    return { ok: result.exitCode === 0, output: result.all ?? '' };
  };
  return {
    async resolveFlatcar(channel, board) {
      return (await resolveLatestFlatcar({ channel: channel as FlatcarChannel, board: board as FlatcarBoard }, flatcarContext(env))).version;
    },
    async listExtensions() {
      const result = await bakehouse(['list', '--json']);
      if (!result.ok) throw new Error(`bakehouse list --json failed:\n${result.output}`);
      return JSON.parse(result.output) as ExtensionInfo[];
    },
    bump: (name) => bakehouse(['bump', name, '--quiet']),
    bootArch: () => hostArch(),
    bootTest: (name, dir, images, flatcarVersion) => bootStaged(root, env, name, dir, images, flatcarVersion),
    publish: (name, tree, { baseUrl, previous, keep, from, requireTests, flatcarVersion }) =>
      bakehouse([
        'publish',
        name,
        '--out',
        tree,
        '--from',
        from,
        ...(requireTests ? ['--require-tests'] : []),
        ...(flatcarVersion ? ['--flatcar-version', flatcarVersion] : []),
        ...(baseUrl ? ['--base-url', baseUrl] : []),
        ...(previous ? ['--previous', previous] : []),
        ...(keep ? ['--keep', String(keep)] : []),
      ]),
    build: (names, buildEnv) => turboBuild(root, names, { ...env, ...buildEnv }, options.turboArgs ?? []),
  };
}

/**
 * Boots the staged images in the testbed (in this process: the results are the evidence) with
 * the manifest's smoke checks, and makes a test record of each, naming the sha256 of the very
 * bytes booted. The testbed is nspawn on this host's kernel.
 */
async function bootStaged(root: string, env: NodeJS.ProcessEnv, name: string, dir: string, images: BootTestInput, flatcarVersion: string | undefined): Promise<BootTestResult> {
  const lines: string[] = [];
  try {
    const manifest = await loadManifest(root, name);
    const version = flatcarVersion ?? (await readFlatcarRelease(root))?.version;
    if (!version) return { ok: false, output: 'no Flatcar release to boot: write flatcar.json (bakehouse flatcar latest --write)', records: [] };
    for (const image of images) {
      const sha256 = await sha256File(path.join(dir, image.file));
      if (sha256 !== image.sha256) return { ok: false, output: `${path.join(dir, image.file)} is not the staged image (sha256 ${sha256}, staged ${image.sha256})`, records: [] };
    }
    const testbed = await ensureTestbedRoot(version, { cacheDir: env.BAKEHOUSE_CACHE_DIR, log: (m) => lines.push(m) });
    const results = await runBootTests(
      { kind: 'nspawn', root: testbed },
      images.map((image) => ({ name, image: path.join(dir, image.file), checks: manifest.smoke })),
      { timeoutMs: BOOT_TIMEOUT_MS },
    );
    const kernel = os.release();
    const records = results.map((r, i) => testRecord(name, images[i]!, r.result, { kind: 'nspawn', kernel, flatcarVersion: version }));
    lines.push(...results.map(describeResult));
    return { ok: results.every((r) => r.result.ok), output: lines.join('\n'), records };
  } catch (error) {
    lines.push((error as Error).message);
    return { ok: false, output: lines.join('\n'), records: [] };
  }
}

type BootTestInput = Parameters<ReleaseSteps['bootTest']>[2];

function describeResult({ image, result }: ImageTestResult): string {
  const failed = result.checks.filter((c) => !c.ok).map((c) => `${c.kind} ${c.name} (exit ${c.exitCode}): ${c.output.split('\n').slice(-5).join(' | ')}`);
  return `${result.ok ? 'ok  ' : 'FAIL'} ${path.basename(image)} (${(result.durationMs / 1000).toFixed(1)}s)${result.problem ? `: ${result.problem}` : ''}${failed.length ? `\n  ${failed.join('\n  ')}` : ''}`;
}

/** An extension's manifest, loaded as the CLI loads it (extension.ts through jiti), for its smoke checks. */
async function loadManifest(root: string, name: string): Promise<ExtensionManifest> {
  const file = path.join(root, 'extensions', name, 'extension.ts');
  const jiti = createJiti(import.meta.url, { moduleCache: false, fsCache: false });
  return parseExtension(await jiti.import(file, { default: true }), path.relative(root, file));
}

/** One `turbo run build` for the named extensions; --continue keeps one failure from stopping the others, and Turbo's run summary says which failed. */
async function turboBuild(root: string, names: readonly string[], env: NodeJS.ProcessEnv, turboArgs: readonly string[]): Promise<Record<string, StepResult>> {
  const runs = path.join(root, '.turbo/runs');
  const before = new Set(await readdir(runs).catch(() => [] as string[]));
  const filters = names.map((name) => `--filter=${name}`);
  const result = await execa('pnpm', ['exec', 'turbo', 'run', 'build', ...filters, ...turboArgs, '--continue', '--summarize', '--output-logs=new-only'], { cwd: root, env, extendEnv: false, reject: false, all: true });
  const output = result.all ?? '';
  const [summaryFile] = (await readdir(runs).catch(() => [] as string[])).filter((f) => !before.has(f));
  if (!summaryFile) return Object.fromEntries(names.map((name) => [name, { ok: false, output }]));
  const summary = JSON.parse(await readFile(path.join(runs, summaryFile), 'utf8')) as { tasks: { taskId: string; package: string; execution?: { exitCode?: number } }[] };
  return Object.fromEntries(
    names.map((name) => {
      const task = summary.tasks.find((t) => t.taskId === `${name}#build`);
      const ok = task?.execution?.exitCode === 0;
      // Turbo prefixes each line with its task: keep this extension's lines, or everything when it never ran.
      const own = output.split('\n').filter((line) => line.startsWith(`${name}:build:`)).join('\n');
      return [name, { ok, output: own || output }];
    }),
  );
}

/** The index.json of a published tree (a directory, or the URL it is served from), or undefined before the first publish. */
export async function readTreeIndex(tree: string): Promise<ReleaseIndex | undefined> {
  if (/^https?:\/\//.test(tree)) {
    const url = `${tree.replace(/\/+$/, '')}/${RELEASE_INDEX_FILE}`;
    const response = await fetch(url);
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return parseReleaseIndex(await response.text(), url);
  }
  const file = path.join(tree, RELEASE_INDEX_FILE);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  return text === undefined ? undefined : parseReleaseIndex(text, file);
}
