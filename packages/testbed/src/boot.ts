import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { LOOP_DEVICES, restoreLoopDevices } from './loop.js';
import { probeScript, type Checks } from './probe.js';
import { killTree, oneAtATime, signal, stripAnsi } from './process.js';
import { collect, place, type BootResult, type PlacedFile } from './results.js';
import { PROBE_DIR } from './root.js';

export type { BootResult, PlacedFile } from './results.js';

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
    // Containers share the host's loop devices, and nspawn's shutdown touches their nodes.
    const { console, problem } = await oneAtATime('bakehouse-testbed', async () => {
      await restoreLoopDevices();
      try {
        return await runContainer(options, dirs);
      } finally {
        await restoreLoopDevices();
      }
    });
    return { ...(await collect(dirs.io, problem)), console, durationMs: Date.now() - started, testbed: { kind: 'nspawn', kernel: os.release() } };
  } finally {
    await execa('rm', ['-rf', '--one-file-system', '--', run]).catch(() => {});
  }
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

