import { mkdir, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRecordFiles } from '@bakehouse/builder';
import { cloneRepository, containerdUpstream, dockerUpstream, kubernetesUpstream, serveDirectory, type LoopbackServer } from '@bakehouse/fixtures';

let clone: string;
let upstream: LoopbackServer;
let env: Record<string, string>;

interface TaskSummary {
  taskId: string;
  cache: { status: 'HIT' | 'MISS' };
}

/** Runs `turbo run build` in the clone and returns each task's cache status from Turbo's own run summary. */
async function turboBuild(): Promise<{ output: string; status: Record<string, 'HIT' | 'MISS'> }> {
  const runs = path.join(clone, '.turbo/runs');
  const before = new Set(await readdir(runs).catch(() => []));
  const result = await execa('pnpm', ['exec', 'turbo', 'run', 'build', '--summarize', '--output-logs=errors-only'], { cwd: clone, env, reject: false, all: true });
  expect(result.exitCode, result.all).toBe(0);
  const [summaryFile] = (await readdir(runs)).filter((f) => !before.has(f));
  const summary = JSON.parse(await readFile(path.join(runs, summaryFile!), 'utf8')) as { tasks: TaskSummary[] };
  return { output: result.all ?? '', status: Object.fromEntries(summary.tasks.map((t) => [t.taskId, t.cache.status])) };
}

const EXTENSION_TASKS = ['containerd#build', 'docker#build', 'hello#build', 'kubernetes#build', 'oem-hyperv#build', 'oem-qemu#build', 'podman#build'];

/** The extension builds Turbo did not take from its cache. */
const rebuilt = (status: Record<string, 'HIT' | 'MISS'>) => EXTENSION_TASKS.filter((task) => status[task] === 'MISS');

beforeAll(async () => {
  clone = await cloneRepository(async (root) => {
    // Turbo's caching is the same for every extension: a few of each kind (url inputs, Debian
    // closures, release-pinned) prove it without building the whole catalog cold.
    for (const name of await readdir(path.join(root, 'extensions')))
      if (!EXTENSION_TASKS.includes(`${name}#build`)) await rm(path.join(root, 'extensions', name), { recursive: true, force: true });
    // A contributor's extension: data only, no builder code.
    const dir = path.join(root, 'extensions/hello');
    await mkdir(path.join(dir, 'files/usr/share/hello'), { recursive: true });
    await writeFile(path.join(dir, 'files/usr/share/hello/greeting'), 'hello\n');
    await writeFile(
      path.join(dir, 'package.json'),
      JSON.stringify({ name: 'hello', version: '0.1.0', private: true, type: 'module', scripts: { build: 'bakehouse build' }, devDependencies: { '@bakehouse/cli': 'workspace:*', '@bakehouse/schema': 'workspace:*' } }),
    );
    await writeFile(
      path.join(dir, 'extension.ts'),
      "import { defineExtension } from '@bakehouse/schema';\nexport default defineExtension({ name: 'hello', description: 'greets', homepage: 'https://example.org', arch: ['x86-64'] });\n",
    );
    await writeFile(path.join(dir, 'extension.lock.json'), JSON.stringify({ lockVersion: 1, images: [{ version: '1.0', inputs: {} }] }));
  });
  upstream = await serveDirectory(path.join(clone, '.fixture-site'));
  const sourcesFile = path.join(clone, '.fixture-sources.json');
  const site = path.join(clone, '.fixture-site');
  const sources = {
    ...(await containerdUpstream(site, upstream.url)),
    ...(await dockerUpstream(site, upstream.url, '28.5.2')),
    ...(await kubernetesUpstream(site, upstream.url, { releases: { '1.36.3': '1.36.0', '1.35.7': '1.35.0' }, cni: '1.9.1' })),
  };
  await writeFile(sourcesFile, JSON.stringify(sources));
  env = { ...process.env, BAKEHOUSE_SOURCES: sourcesFile, BAKEHOUSE_CACHE_DIR: path.join(clone, '.fixture-cache'), BAKEHOUSE_COMPRESSION: 'gzip', TURBO_TELEMETRY_DISABLED: '1', CI: '1' } as Record<string, string>;
}, 300_000);

afterAll(async () => {
  await upstream?.close();
  if (clone) await rm(clone, { recursive: true, force: true });
});

describe('turbo build', () => {
  it('builds cold, then a second identical run is a full cache hit', async () => {
    const cold = await turboBuild();
    expect(rebuilt(cold.status)).toEqual(EXTENSION_TASKS);
    const images = await readdir(path.join(clone, 'extensions/containerd/dist'));
    expect(images).toContain('containerd-2.3.4-x86-64.raw');

    const warm = await turboBuild();
    expect(Object.values(warm.status).every((s) => s === 'HIT')).toBe(true);
    expect(warm.output).toContain('FULL TURBO');
  }, 900_000);

  it('rebuilds only the extension whose file changed', async () => {
    await appendFile(path.join(clone, 'extensions/hello/files/usr/share/hello/greeting'), 'again\n');
    const { status } = await turboBuild();
    expect(rebuilt(status)).toEqual(['hello#build']);
    expect(status['@bakehouse/builder#build']).toBe('HIT');
  }, 300_000);

  it('does not let dist/ feed back into the hash', async () => {
    await writeFile(path.join(clone, 'extensions/containerd/dist/SHA256SUMS'), 'tampered\n');
    await writeFile(path.join(clone, 'extensions/containerd/dist/stray.txt'), 'x');
    const { status } = await turboBuild();
    expect(status['containerd#build']).toBe('HIT');
  }, 300_000);

  it('rebuilds only the release-pinned images when the target Flatcar release changes', async () => {
    const file = path.join(clone, 'flatcar.json');
    await writeFile(file, (await readFile(file, 'utf8')).replace(/"version": "[^"]+"/, '"version": "4230.9.0"'));
    expect(rebuilt((await turboBuild()).status)).toEqual(['oem-hyperv#build', 'oem-qemu#build']);
    const records = await buildRecordFiles(path.join(clone, 'extensions/oem-qemu/dist'), 'oem-qemu');
    expect(records).toHaveLength(2);
    for (const record of records) expect(JSON.parse(await readFile(path.join(clone, 'extensions/oem-qemu/dist', record), 'utf8')).extensionRelease).toMatchObject({ VERSION_ID: '4230.9.0', SYSEXT_VERSION_ID: '4230.9.0' });

    env.BAKEHOUSE_FLATCAR_VERSION = '4230.9.1';
    try {
      expect(rebuilt((await turboBuild()).status)).toEqual(['oem-hyperv#build', 'oem-qemu#build']);
    } finally {
      delete env.BAKEHOUSE_FLATCAR_VERSION;
    }
  }, 300_000);

  it('rebuilds every extension when the builder changes', async () => {
    await appendFile(path.join(clone, 'packages/builder/src/plan.ts'), '\n// touched by the turbo test\n');
    const { status } = await turboBuild();
    expect(rebuilt(status)).toEqual(EXTENSION_TASKS);
    expect(status['@bakehouse/builder#build']).toBe('MISS');
  }, 300_000);
});
