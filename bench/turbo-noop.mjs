import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Wall time of `pnpm exec turbo run build` when nothing changed, against the run before it,
 * which rebuilt every extension (the caller hands in a new BAKEHOUSE_SOURCES path, which is
 * in every extension's hash): the no-op ratio. Async on purpose: the loopback upstream the
 * builds download from is served by this very process.
 */
export async function timeNoopTurboRun(repoRoot, env) {
  const coldStarted = performance.now();
  const coldOutput = await turboBuild(repoRoot, env);
  const coldSeconds = Math.round(performance.now() - coldStarted) / 1000;
  const started = performance.now();
  const output = await turboBuild(repoRoot, env);
  const seconds = Math.round(performance.now() - started) / 1000;
  return {
    seconds,
    coldSeconds,
    ratio: Number((seconds / coldSeconds).toFixed(4)),
    coldRebuilt: rebuiltTasks(coldOutput),
    fullTurbo: output.includes('FULL TURBO'),
    rebuilt: rebuiltTasks(output),
  };
}

/**
 * What a new Flatcar release rebuilds: Turbo's dry run (nothing is built) with another
 * target release, right after a run that left everything cached. Returns the extension
 * tasks that would run, and how many images that is (`imagesOf` counts one extension's).
 */
export async function flatcarBumpRebuilds(repoRoot, env, version, imagesOf) {
  const { stdout } = await execFileAsync('pnpm', ['exec', 'turbo', 'run', 'build', '--dry-run=json'], {
    cwd: repoRoot,
    env: { ...env, BAKEHOUSE_FLATCAR_VERSION: version },
    maxBuffer: 64 * 1024 ** 2,
  });
  const tasks = JSON.parse(stdout.slice(stdout.indexOf('{'))).tasks.filter((task) => task.package in imagesOf);
  const rebuilt = tasks.filter((task) => task.cache.status !== 'HIT').map((task) => task.package).sort();
  const count = (packages) => packages.reduce((sum, name) => sum + imagesOf[name], 0);
  return {
    version,
    extensions: { rebuilt: rebuilt.length, of: tasks.length, names: rebuilt },
    images: { rebuilt: count(rebuilt), of: count(tasks.map((task) => task.package)) },
  };
}

/** Turbo logs "TASK: cache miss, executing HASH" for each task it had to run. */
function rebuiltTasks(output) {
  return [...output.matchAll(/^(\S+): cache miss, executing/gm)].map((match) => match[1]);
}

async function turboBuild(repoRoot, env) {
  try {
    const { stdout, stderr } = await execFileAsync('pnpm', ['exec', 'turbo', 'run', 'build'], { cwd: repoRoot, env, maxBuffer: 64 * 1024 ** 2 });
    return stdout + stderr;
  } catch (error) {
    throw new Error(`pnpm exec turbo run build failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  }
}
