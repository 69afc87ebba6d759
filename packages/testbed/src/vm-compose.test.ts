import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir } from '@bakehouse/builder';
import { fixtureBuildEnv, runBakehouse, scratchWorkspace, serveDirectory } from '@bakehouse/fixtures';
import { bootVm, checksFor, ensureVmRoot, findImages, type VmRoot } from './index.js';
import { describeFailure, output } from './test-support/boot-helpers.js';
import { debianPluginUpstream } from './test-support/debian-plugins.js';
import { fixtureWorkspace } from './test-support/fixture-images.js';
import { repoFlatcarVersion, repoManifest } from './test-support/workspace.js';

// The docker CLI plugins doing their job under a real kernel, in one VM boot beside the docker
// extension of the shared fixture workspace: `docker compose` brings a busybox httpd service up
// on a published port and down again, `docker buildx build` runs a BuildKit job offline. The
// plugins are Debian trixie's real binaries under upstream's file names (debian-plugins.ts).

const PLUGINS = ['docker-compose', 'docker-buildx'] as const;

let vm: VmRoot;
let dockerWorkspace: string;
let work: string;
let pluginWorkspace: string;
const timings: Record<string, number> = {};

beforeAll(async () => {
  let started = Date.now();
  const lap = (name: string) => {
    timings[name] = Date.now() - started;
    started = Date.now();
  };
  const flatcarVersion = await repoFlatcarVersion();
  vm = await ensureVmRoot(flatcarVersion);
  lap('vm root');
  work = await mkdtemp(path.join(os.tmpdir(), 'testbed-vm-compose-'));
  const site = await serveDirectory(path.join(work, 'site'));
  try {
    const sources = await debianPluginUpstream(path.join(work, 'site'), site.url, defaultCacheDir());
    const env = { ...(await fixtureBuildEnv(work, sources)), BAKEHOUSE_CACHE_DIR: defaultCacheDir() };
    pluginWorkspace = await scratchWorkspace([...PLUGINS, 'docker']);
    const build = await runBakehouse(['build', '--arch', 'x86-64', '--quiet', ...PLUGINS], { cwd: pluginWorkspace, env });
    expect(build.exitCode, build.all).toBe(0);
  } finally {
    await site.close();
  }
  lap('plugin images (Debian binaries)');
  // After the plugins, which fail fast, since this one may build every fixture image.
  dockerWorkspace = await fixtureWorkspace(flatcarVersion);
  lap('fixture images');
}, 1_800_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  if (pluginWorkspace) await rm(pluginWorkspace, { recursive: true, force: true });
  process.stderr.write(`vm-compose test timings: ${JSON.stringify(timings)}\n`);
});

async function image(workspace: string, name: string): Promise<string> {
  return (await findImages(path.join(workspace, 'extensions', name, 'dist'), name, 'x86-64')).at(-1)!;
}

describe('docker CLI plugins under a real kernel', () => {
  it('docker compose brings a service up on a published port and down again; docker buildx builds an image offline', async () => {
    const docker = await repoManifest('docker');
    const compose = await repoManifest('docker-compose');
    const buildx = await repoManifest('docker-buildx');
    const composeChecks = checksFor('vm', compose.smoke);
    const buildxChecks = checksFor('vm', buildx.smoke);
    const checks = {
      units: docker.smoke.units,
      // Each manifest's own checks, as `bakehouse test --vm` runs them; the image is loaded once.
      commands: [...new Set([...composeChecks.commands, ...buildxChecks.commands])],
    };
    const started = Date.now();
    const result = await bootVm({
      vm,
      extensions: {
        docker: await image(dockerWorkspace, 'docker'),
        'docker-compose': await image(pluginWorkspace, 'docker-compose'),
        'docker-buildx': await image(pluginWorkspace, 'docker-buildx'),
      },
      checks,
      // Under TCG on a loaded machine, booting plus a BuildKit job can outlast the 600 s default.
      timeoutMs: 1_500_000,
    });
    timings['boot docker+docker-compose+docker-buildx'] = Date.now() - started;
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(result.sysext).toMatch(/docker-compose/);
    expect(result.sysext).toMatch(/docker-buildx/);
    // Debian's binaries ran, through the docker CLI's plugin lookup.
    expect(output(result, 'docker compose version')).toMatch(/Docker Compose version v?2\.26\.1/);
    expect(output(result, 'docker buildx version')).toMatch(/0\.13\.1/);
    const commands = checks.commands.join('\n');
    expect(commands).toMatch(/docker compose [^\n]* up -d/);
    expect(commands).toMatch(/wget -qO- http:\/\/127\.0\.0\.1:8081\//);
    expect(commands).toMatch(/docker compose [^\n]* down/);
    expect(commands).toMatch(/docker buildx build /);
    expect(result.checks.every((c) => c.ok)).toBe(true);
  }, 1_800_000);
});
