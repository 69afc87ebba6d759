import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from '@bakehouse/schema';
import { bootTestbed, type BootResult, type PlacedFile } from './boot.js';
import { BootTestError } from './errors.js';
import type { Checks } from './probe.js';

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

export interface ImageUnderTest {
  /** The extension name: the image goes to /etc/extensions/NAME.raw. */
  name: string;
  image: string;
  checks: Checks;
  /** Other images booted beside it (what it requires), name → file. */
  with?: Record<string, string>;
  /** Files placed in the container before boot (drop-ins an operator would add). */
  files?: Record<string, PlacedFile>;
}

export interface ImageTestResult extends ImageUnderTest {
  result: BootResult;
}

/** Boots each image in turn (loop devices and nspawn do not share well) and collects the results. */
export async function runBootTests(
  root: string,
  images: readonly ImageUnderTest[],
  options: { timeoutMs?: number; onResult?: (result: ImageTestResult) => void } = {},
): Promise<ImageTestResult[]> {
  const results: ImageTestResult[] = [];
  for (const test of images) {
    const result = await bootTestbed({
      root,
      extensions: { ...test.with, [test.name]: test.image },
      files: test.files,
      checks: test.checks,
      timeoutMs: options.timeoutMs,
    });
    const done = { ...test, result };
    options.onResult?.(done);
    results.push(done);
  }
  return results;
}
