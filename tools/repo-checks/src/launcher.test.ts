import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_TOOLS } from '@bakehouse/builder';
import { freshCheckout, REPO_ROOT } from '@bakehouse/fixtures';

/**
 * The README's first command runs `./bakehouse` in a fresh clone: tools/setup/setup.sh installs what
 * is missing, then the CLI runs. Nothing can be uninstalled from this machine, so apt-get and npm are
 * replaced on PATH by recorders (apt-get's `--version`, which `bakehouse doctor` asks, goes to the
 * real one): every run says whether setup reached for them, and with what.
 */
let clone: string;
let scratch: string;
let recorders: string;

const aptLog = () => path.join(scratch, 'apt-get.log');
const npmLog = () => path.join(scratch, 'npm.log');
const calls = async (log: string) => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);

async function recorder(name: string, log: string, exitCode: number): Promise<void> {
  const file = path.join(recorders, name);
  await writeFile(file, `#!/bin/sh\necho "$*" >> '${log}'\n[ "$1" = --version ] && exec /usr/bin/${name} "$@"\nexit ${exitCode}\n`);
  await chmod(file, 0o755);
}

/** Runs a command in the clone with the recorders first on PATH, and the repository's Turbo cache (the packages are hits there). */
async function inClone(command: string, args: string[], pathDirs = [process.env.PATH ?? '']) {
  await rm(aptLog(), { force: true });
  await rm(npmLog(), { force: true });
  const started = performance.now();
  const result = await execa(command, args, {
    cwd: clone,
    env: { PATH: [recorders, ...pathDirs].join(':'), TURBO_CACHE_DIR: path.join(REPO_ROOT, '.turbo/cache') },
    reject: false,
  });
  return { ...result, seconds: (performance.now() - started) / 1000, apt: await calls(aptLog()), npm: await calls(npmLog()) };
}

const setupSteps = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('setup: '));

beforeAll(async () => {
  clone = await freshCheckout(REPO_ROOT);
  // The checkout's node_modules are hard links to the repository's: a stamp of a launcher run there is not this clone's.
  await rm(path.join(clone, 'node_modules/.bakehouse-setup-built'), { force: true });
  scratch = await mkdtemp(path.join(os.tmpdir(), 'launcher-test-'));
  recorders = path.join(scratch, 'recorders');
  await mkdir(recorders);
  await recorder('apt-get', aptLog(), 1);
  await recorder('npm', npmLog(), 1);
}, 600_000);

afterAll(async () => {
  await rm(clone, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

describe('./bakehouse, the launcher', () => {
  it('in a fresh clone with everything installed: builds the CLI, runs it, and asks neither apt nor npm', async () => {
    const run = await inClone('./bakehouse', ['--help']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Usage: bakehouse/);
    expect(setupSteps(run.stderr)).toEqual(['setup: building the bakehouse CLI (turbo run build --filter=@bakehouse/cli...)']);
    expect(run.apt).toEqual([]);
    expect(run.npm).toEqual([]);
  }, 600_000);

  it('run again, goes straight to the command: no setup step at all', async () => {
    const run = await inClone('./bakehouse', ['doctor']);
    // doctor exits 1 if a tool it checks is missing: setup's build list must have installed them all.
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('mksquashfs');
    expect(setupSteps(run.stderr)).toEqual([]);
    expect(run.apt.filter((call) => call !== '--version')).toEqual([]);
    expect(run.npm).toEqual([]);
    console.log(`second ./bakehouse doctor: ${run.seconds.toFixed(1)} s`);
  }, 120_000);

  it('rebuilds the CLI after a source file changed', async () => {
    const main = path.join(clone, 'packages/cli/src/main.ts');
    const now = new Date(Date.now() + 2000);
    await utimes(main, now, now);
    const run = await inClone('./bakehouse', ['--help']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(setupSteps(run.stderr)).toEqual(['setup: building the bakehouse CLI (turbo run build --filter=@bakehouse/cli...)']);
  }, 300_000);

  it('installs a missing Debian tool with apt-get, and only its package', async () => {
    // PATH without patchelf: every other program of the usual directories, linked into one.
    const bin = path.join(scratch, 'bin-without-patchelf');
    await mkdir(bin, { recursive: true });
    for (const dir of ['/usr/local/bin', '/usr/bin', '/bin'])
      for (const name of await readdir(dir).catch(() => []))
        if (name !== 'patchelf') await symlink(path.join(dir, name), path.join(bin, name)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        });
    await recorder('apt-get', aptLog(), 0); // "installs" nothing, succeeding
    try {
      const run = await inClone('./bakehouse', ['--help'], [bin]);
      expect(run.exitCode, run.stderr).toBe(0);
      // Whether the CLI is rebuilt too depends on the previous test's edit; the apt calls are the point here.
      expect(setupSteps(run.stderr)).toContain('setup: installing Debian packages: patchelf ');
      expect(run.apt).toEqual(['update -q', 'install -y -q --no-install-recommends patchelf']);
    } finally {
      await recorder('apt-get', aptLog(), 1);
    }
  }, 120_000);
});

describe('.ci/run', () => {
  it('--install-only on an installed machine: no apt, no npm, no pnpm install', async () => {
    const run = await inClone('bash', ['.ci/run', '--install-only']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(setupSteps(run.stderr)).toEqual([]);
    expect(run.apt).toEqual([]);
    expect(run.npm).toEqual([]);
  }, 120_000);
});

describe('tools/setup/setup.sh', () => {
  it('has every host tool `bakehouse doctor` checks in its build list, with the same Debian package', async () => {
    const script = await readFile(path.join(REPO_ROOT, 'tools/setup/setup.sh'), 'utf8');
    const buildList = /declare -A build_tools=\(([^)]*)\)/.exec(script)?.[1] ?? '';
    const listed = Object.fromEntries([...buildList.matchAll(/\[([^\]]+)\]=(\S+)/g)].map((m) => [m[1], m[2]]));
    const doctor = Object.fromEntries(Object.values(HOST_TOOLS).map((tool) => [tool.command, tool.debianPackage]));
    expect(listed).toMatchObject(doctor);
  });
});
