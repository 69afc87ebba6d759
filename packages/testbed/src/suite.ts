import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from '@bakehouse/schema';
import { bootTestbed } from './boot.js';
import { BootTestError } from './errors.js';
import type { Checks } from './probe.js';
import type { BootResult, PlacedFile } from './results.js';
import { bootVm } from './vm/boot.js';
import type { VmRoot } from './vm/root.js';

/** systemd's name for the machine's architecture: the only one the testbed can boot. */
export function hostArch(): Arch {
  const arch = ({ x64: 'x86-64', arm64: 'arm64' } as const)[process.arch as 'x64' | 'arm64'];
  if (!arch) throw new BootTestError(`the boot testbed runs on x86-64 and arm64 hosts only (this one is ${process.arch})`);
  return arch;
}

/** The built images of extension `name` for `arch` in `distDir`, sorted (one per line for extensions with lines). */
export async function findImages(distDir: string, name: string, arch: Arch): Promise<string[]> {
  const suffix = `-${arch}.raw`;
  const entries = await readdir(distDir).catch(() => [] as string[]);
  const images = entries.filter((e) => e.startsWith(`${name}-`) && e.endsWith(suffix)).sort();
  if (images.length === 0) throw new BootTestError(`no ${arch} image of ${name} in ${distDir}: run \`bakehouse build ${name} --arch ${arch}\` first`);
  return images.map((e) => path.join(distDir, e));
}

/** A manifest's smoke section: what both testbeds check, and the workload only a real kernel can run. */
export interface Smoke extends Checks {
  workload?: { units: string[]; commands: string[]; ports: string[] };
}

export interface ImageUnderTest {
  /** The extension name: the image goes to /etc/extensions/NAME.raw. */
  name: string;
  image: string;
  checks: Smoke;
  /** Other images booted beside it (what it requires), name → file. */
  with?: Record<string, string>;
  /** Files placed before boot (drop-ins an operator would add). */
  files?: Record<string, PlacedFile>;
}

export interface ImageTestResult extends ImageUnderTest {
  result: BootResult;
}

/** Where images boot: systemd-nspawn on the host's kernel, or a VM with its own. */
export type Testbed = { kind: 'nspawn'; root: string } | { kind: 'vm'; vm: VmRoot; diskSizeMiB?: number };

/** The checks one testbed runs: the nspawn testbed cannot run workloads (no cgroup controllers, no device-mapper). */
export function checksFor(testbed: Testbed['kind'], smoke: Smoke): Checks {
  if (testbed === 'nspawn' || !smoke.workload) return { units: smoke.units, commands: smoke.commands };
  return { units: [...smoke.units, ...smoke.workload.units], commands: [...smoke.commands, ...smoke.workload.commands] };
}

/** Boots each image in turn and collects the results. */
export async function runBootTests(
  testbed: Testbed,
  images: readonly ImageUnderTest[],
  options: { timeoutMs?: number; onResult?: (result: ImageTestResult) => void; socketDir?: string } = {},
): Promise<ImageTestResult[]> {
  const results: ImageTestResult[] = [];
  for (const test of images) {
    const extensions = { ...test.with, [test.name]: test.image };
    const checks = checksFor(testbed.kind, test.checks);
    const result =
      testbed.kind === 'nspawn'
        ? await bootTestbed({ root: testbed.root, extensions, files: test.files, checks, timeoutMs: options.timeoutMs })
        : await bootVm({ vm: testbed.vm, extensions, files: test.files, checks, ports: test.checks.workload?.ports, timeoutMs: options.timeoutMs, diskSizeMiB: testbed.diskSizeMiB });
    const done = { ...test, result };
    options.onResult?.(done);
    results.push(done);
  }
  return results;
}
