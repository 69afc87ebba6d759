import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import lockfile from 'proper-lockfile';
import { BootTestError } from './errors.js';
import { LOOP_DEVICES, restoreLoopDevices } from './loop.js';
import { probeScript, type CheckResult, type Checks } from './probe.js';
import { PROBE_DIR } from './root.js';

/** A file placed into the container before boot: text, a copy of a host file, or a symlink. */
export type PlacedFile = string | { copy: string } | { symlink: string };

export interface BootOptions {
  /** The testbed root (`ensureTestbedRoot`); never modified: the container boots an overlay of it. */
  root: string;
  /** Image name → host .raw file, copied to /etc/extensions/NAME.raw. */
  extensions?: Record<string, string>;
  /** Absolute path in the container → what to put there (drop-ins, masks, built-in images). */
  files?: Record<string, PlacedFile>;
  checks: Checks;
  /** `private` (default): only a loopback interface. `host`: the host's network, to reach a server on 127.0.0.1. */
  network?: 'private' | 'host';
  /** The whole run, boot to power-off; default 180 s. */
  timeoutMs?: number;
  /** How long units may take to become active after boot; default 60 s. */
  unitWaitSeconds?: number;
}

export interface BootResult {
  ok: boolean;
  checks: CheckResult[];
  /** Why the run failed when no check could tell (no results, timeout, nspawn error). */
  problem?: string;
  /** `systemd-sysext status` inside the container. */
  sysext: string;
  /** Journal excerpt, written by the probe when a check failed. */
  journal?: string;
  /** The container's console: boot messages and the probe's output. */
  console: string;
  durationMs: number;
}

/** Time the container gets to power off after SIGTERM before it is killed. */
const GRACE_MS = 10_000;

/**
 * Boots the root with systemd as PID 1 in systemd-nspawn, from an overlay private to this
 * run, with the images in /etc/extensions, and runs the checks once the system is up. The
 * overlay is mounted in a mount namespace of its own, so it disappears with the container;
 * the container is powered off by the probe, or killed when the run outlasts its timeout.
 */
export async function bootTestbed(options: BootOptions): Promise<BootResult> {
  const started = Date.now();
  const run = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-testbed-'));
  try {
    const dirs = { upper: path.join(run, 'upper'), work: path.join(run, 'work'), merged: path.join(run, 'merged'), io: path.join(run, 'io') };
    await Promise.all(Object.values(dirs).map((d) => mkdir(d)));
    for (const [name, image] of Object.entries(options.extensions ?? {})) await place(dirs.upper, `/etc/extensions/${name}.raw`, { copy: image });
    for (const [target, what] of Object.entries(options.files ?? {})) await place(dirs.upper, target, what);
    await writeFile(
      path.join(dirs.io, 'probe.sh'),
      probeScript(options.checks, { unitWaitSeconds: options.unitWaitSeconds ?? 60, commandTimeoutSeconds: 60 }),
    );
    const { console, problem } = await oneAtATime(async () => {
      await restoreLoopDevices();
      try {
        return await runContainer(options, dirs);
      } finally {
        await restoreLoopDevices();
      }
    });
    return { ...(await collect(dirs.io, problem)), console, durationMs: Date.now() - started };
  } finally {
    await execa('rm', ['-rf', '--one-file-system', '--', run]).catch(() => {});
  }
}

/**
 * Containers share the host's loop devices, and nspawn's shutdown touches their nodes: runs
 * from any process on the machine (parallel test files, two `bakehouse test`) take turns.
 * The wait does not count against a run's timeout.
 */
async function oneAtATime<T>(run: () => Promise<T>): Promise<T> {
  const release = await lockfile.lock(path.join(os.tmpdir(), 'bakehouse-testbed'), {
    realpath: false,
    retries: { retries: 3600, factor: 1, minTimeout: 500, maxTimeout: 500 },
    onCompromised: () => {},
  });
  try {
    return await run();
  } finally {
    await release().catch(() => {});
  }
}

async function place(upper: string, target: string, what: PlacedFile): Promise<void> {
  if (!path.isAbsolute(target) || path.normalize(target) !== target)
    throw new BootTestError(`testbed file ${JSON.stringify(target)}: expected a normalized absolute path such as "/etc/containerd/config.toml"`);
  const file = path.join(upper, target);
  await mkdir(path.dirname(file), { recursive: true });
  if (typeof what === 'string') await writeFile(file, what);
  else if ('copy' in what) await copyFile(what.copy, file);
  else await symlink(what.symlink, file);
}

// The overlay lives in a mount namespace that ends with nspawn, so a crash cannot leave it mounted.
const LAUNCH = 'mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" "$MERGED" && exec "$@"';

async function runContainer(options: BootOptions, dirs: Record<'upper' | 'work' | 'merged' | 'io', string>): Promise<{ console: string; problem?: string }> {
  const machine = `bakehouse-${randomBytes(4).toString('hex')}`;
  const nspawn = [
    'systemd-nspawn', '--register=no', '--keep-unit', '--boot', '--quiet',
    `--directory=${dirs.merged}`, `--machine=${machine}`, '--console=pipe', '--link-journal=no', '--timezone=off', '--resolv-conf=off',
    `--bind=${dirs.io}:${PROBE_DIR}`, '--bind=/dev/loop-control',
    ...Array.from({ length: LOOP_DEVICES }, (_, n) => `--bind=/dev/loop${n}`),
    ...(options.network === 'host' ? [] : ['--private-network']),
  ];
  const child = execa('unshare', ['--mount', '--propagation=private', 'sh', '-c', LAUNCH, 'launch', ...nspawn], {
    env: { LOWER: options.root, UPPER: dirs.upper, WORK: dirs.work, MERGED: dirs.merged, SYSTEMD_COLORS: '0' },
    stdin: 'ignore', all: true, reject: false, detached: true,
  });
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    // nspawn turns SIGTERM into a power-off request; what has not stopped in time is killed.
    if (child.pid) signal(-child.pid, 'SIGTERM');
    killTimer = setTimeout(() => void (child.pid && killTree(child.pid)), GRACE_MS);
  }, options.timeoutMs ?? 180_000);
  try {
    const result = await child;
    const console = stripAnsi(result.all ?? '');
    if (timedOut) return { console, problem: `the run did not finish within ${(options.timeoutMs ?? 180_000) / 1000} s and was killed` };
    if (result.exitCode !== 0) return { console, problem: `systemd-nspawn exited with status ${result.exitCode ?? result.signal}` };
    return { console };
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
    // Whatever happened, nothing of the container may survive this run.
    if (child.pid) await killTree(child.pid);
  }
}

/** SIGKILLs `pid`'s process group and every descendant (the container's init runs in its own session). */
async function killTree(pid: number): Promise<void> {
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

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

async function collect(io: string, problem: string | undefined): Promise<Omit<BootResult, 'console' | 'durationMs'>> {
  const read = (name: string) => readFile(path.join(io, name), 'utf8').catch(() => undefined);
  const sysext = (await read('sysext.txt')) ?? '';
  const journal = await read('journal.txt');
  const text = await read('results.json');
  if (text === undefined) return { ok: false, checks: [], problem: problem ?? 'the probe wrote no results (the container did not finish booting?)', sysext, journal };
  const raw = (JSON.parse(text) as { checks: Omit<CheckResult, 'ok' | 'output'>[] }).checks;
  const checks = await Promise.all(raw.map(async (c, n) => ({ ...c, ok: c.exitCode === 0, output: ((await read(`check-${n}.log`)) ?? '').trimEnd() })));
  return { ok: !problem && checks.every((c) => c.ok), checks, ...(problem ? { problem } : {}), sysext, ...(journal ? { journal } : {}) };
}

function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
}
