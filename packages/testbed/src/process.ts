import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import lockfile from 'proper-lockfile';

/** SIGKILLs `pid`'s process group and every descendant (a container's init or qemu may run in a session of its own). */
export async function killTree(pid: number): Promise<void> {
  const descendants = await descendantsOf(pid);
  signal(-pid, 'SIGKILL');
  for (const p of descendants) signal(p, 'SIGKILL');
}

async function descendantsOf(pid: number): Promise<number[]> {
  const { stdout } = await execa('ps', ['-e', '-o', 'pid=,ppid='], { reject: false });
  const children = new Map<number, number[]>();
  for (const line of stdout.split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (p === undefined || pp === undefined || Number.isNaN(p)) continue;
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const found: number[] = [];
  const visit = (p: number) => {
    for (const c of children.get(p) ?? []) {
      found.push(c);
      visit(c);
    }
  };
  visit(pid);
  return found;
}

export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

export function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
}

/**
 * Runs `run` while holding the machine-wide lock `name` (in the temporary directory), so runs
 * from any process on the machine (parallel test files, two `bakehouse test`) take turns.
 * The wait, up to an hour, does not count against a run's timeout.
 */
export async function oneAtATime<T>(name: string, run: () => Promise<T>): Promise<T> {
  const release = await lockfile.lock(path.join(os.tmpdir(), name), {
    realpath: false,
    retries: { retries: 7200, factor: 1, minTimeout: 500, maxTimeout: 500 },
    onCompromised: () => {},
  });
  try {
    return await run();
  } finally {
    await release().catch(() => {});
  }
}
