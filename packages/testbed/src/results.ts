import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BootTestError } from './errors.js';
import type { CheckResult } from './probe.js';

/** A file placed into the booted system before boot: text, a copy of a host file, or a symlink. */
export type PlacedFile = string | { copy: string } | { symlink: string };

/** Which testbed booted the images: what a test record keeps as evidence. */
export interface TestbedInfo {
  kind: 'nspawn' | 'vm';
  /** The kernel the images ran on: the host's for nspawn, the guest's for the VM. */
  kernel: string;
  /** How the VM was accelerated. */
  accel?: 'kvm' | 'tcg';
  arch?: string;
}

export interface BootResult {
  ok: boolean;
  checks: CheckResult[];
  /** Why the run failed when no check could tell (no results, timeout, a testbed error). */
  problem?: string;
  /** `systemd-sysext status` inside the booted system. */
  sysext: string;
  /** Journal excerpt, written by the probe when a check failed. */
  journal?: string;
  /** The console: boot messages and the probe's output. */
  console: string;
  durationMs: number;
  testbed: TestbedInfo;
}

/** Puts `what` at `target` (absolute, normalized) below `tree`. */
export async function place(tree: string, target: string, what: PlacedFile): Promise<void> {
  if (!path.isAbsolute(target) || path.normalize(target) !== target)
    throw new BootTestError(`testbed file ${JSON.stringify(target)}: expected a normalized absolute path such as "/etc/containerd/config.toml"`);
  const file = path.join(tree, target);
  await mkdir(path.dirname(file), { recursive: true });
  if (typeof what === 'string') await writeFile(file, what);
  else if ('copy' in what) await copyFile(what.copy, file);
  else await symlink(what.symlink, file);
}

/** Reads what the probe wrote into `io` (results.json, check-N.log, sysext.txt, journal.txt). */
export async function collect(io: string, problem: string | undefined): Promise<Omit<BootResult, 'console' | 'durationMs' | 'testbed'>> {
  const read = (name: string) => readFile(path.join(io, name), 'utf8').catch(() => undefined);
  const sysext = (await read('sysext.txt')) ?? '';
  const journal = await read('journal.txt');
  const text = await read('results.json');
  if (text === undefined) return { ok: false, checks: [], problem: problem ?? 'the probe wrote no results (the system did not finish booting?)', sysext, journal };
  const raw = (JSON.parse(text) as { checks: Omit<CheckResult, 'ok' | 'output'>[] }).checks;
  const checks = await Promise.all(raw.map(async (c, n) => ({ ...c, ok: c.exitCode === 0, output: ((await read(`check-${n}.log`)) ?? '').trimEnd() })));
  return { ok: !problem && checks.every((c) => c.ok), checks, ...(problem ? { problem } : {}), sysext, ...(journal ? { journal } : {}) };
}
