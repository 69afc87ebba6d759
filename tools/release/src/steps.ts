import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseReleaseIndex, RELEASE_INDEX_FILE, type ReleaseIndex } from '@bakehouse/schema';
import { flatcarContext, resolveLatestFlatcar, type FlatcarBoard, type FlatcarChannel } from '@bakehouse/upstream';
import { execa } from 'execa';
import type { ExtensionInfo, ReleaseSteps, StepResult } from './pipeline.js';

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
    bootTest: (name, flatcarVersion) => bakehouse(['test', name], flatcarVersion ? { BAKEHOUSE_FLATCAR_VERSION: flatcarVersion } : {}),
    publish: (name, tree, { baseUrl, previous, keep }) =>
      bakehouse(['publish', name, '--out', tree, ...(baseUrl ? ['--base-url', baseUrl] : []), ...(previous ? ['--previous', previous] : []), ...(keep ? ['--keep', String(keep)] : [])]),
    build: (names, buildEnv) => turboBuild(root, names, { ...env, ...buildEnv }, options.turboArgs ?? []),
  };
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
