import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Wall time of `pnpm exec turbo run build` when nothing changed: a first run brings every task
 * up to date, the second is the one timed. Async on purpose: the loopback upstream the builds
 * download from is served by this very process.
 */
export async function timeNoopTurboRun(repoRoot, env) {
  await turboBuild(repoRoot, env);
  const started = performance.now();
  const output = await turboBuild(repoRoot, env);
  const seconds = Math.round(performance.now() - started) / 1000;
  // Turbo logs "TASK: cache miss, executing HASH" for each task it had to run.
  const rebuilt = [...output.matchAll(/^(\S+): cache miss, executing/gm)].map((match) => match[1]);
  return { seconds, fullTurbo: output.includes('FULL TURBO'), rebuilt };
}

async function turboBuild(repoRoot, env) {
  try {
    const { stdout, stderr } = await execFileAsync('pnpm', ['exec', 'turbo', 'run', 'build'], { cwd: repoRoot, env, maxBuffer: 64 * 1024 ** 2 });
    return stdout + stderr;
  } catch (error) {
    throw new Error(`pnpm exec turbo run build failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  }
}
