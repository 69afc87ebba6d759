import path from 'node:path';
import { ensureTestbedRoot, ensureVmRoot, findImages, hostArch, runBootTests, type ImageTestResult, type ImageUnderTest, type Testbed } from '@bakehouse/testbed';
import { readFlatcarRelease } from '@bakehouse/upstream';
import { findWorkspaceRoot, loadAllExtensions, selectExtensions, WorkspaceError } from '../workspace.js';
import { printTable } from '../table.js';

export interface TestFlags {
  flatcarVersion?: string;
  timeout?: string;
  cacheDir?: string;
  /** Boot under a real kernel (qemu) and run the manifests' workload checks too. */
  vm?: boolean;
  vmDiskSize?: string;
}

/**
 * Boots every built image of the chosen extensions (for this machine's architecture) in the
 * testbed and runs its smoke checks; exits non-zero when any check fails.
 */
export async function runTest(names: string[], flags: TestFlags): Promise<void> {
  const root = await findWorkspaceRoot();
  const extensions = await selectExtensions(root, names);
  const flatcarVersion = flags.flatcarVersion ?? (await readFlatcarRelease(root))?.version;
  if (!flatcarVersion) throw new WorkspaceError('no Flatcar release to boot: write flatcar.json (`bakehouse flatcar latest --write`) or pass --flatcar-version');
  const timeout = flags.timeout ?? (flags.vm ? '600' : '180');
  const timeoutSeconds = Number(timeout);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds <= 0) throw new WorkspaceError(`--timeout: expected whole seconds, such as 180 (got "${timeout}")`);
  const diskSizeMiB = flags.vmDiskSize === undefined ? undefined : Number(flags.vmDiskSize);
  if (diskSizeMiB !== undefined && (!Number.isInteger(diskSizeMiB) || diskSizeMiB < 1024)) throw new WorkspaceError(`--vm-disk-size: expected MiB, at least 1024, such as 8192 (got "${flags.vmDiskSize}")`);

  const arch = hostArch();
  const all = await loadAllExtensions(root);
  const images: ImageUnderTest[] = [];
  for (const { manifest, dir } of extensions) {
    // What an image requires boots beside it: kubernetes needs a container runtime to talk to.
    const required: Record<string, string> = {};
    for (const requirement of manifest.requires) {
      const choices = typeof requirement === 'string' ? [requirement] : requirement.anyOf;
      const provider = all.find((e) => choices.includes(e.manifest.name));
      if (!provider) continue;
      required[provider.manifest.name] = (await findImages(path.join(provider.dir, 'dist'), provider.manifest.name, arch)).at(-1)!;
    }
    for (const image of await findImages(path.join(dir, 'dist'), manifest.name, arch)) images.push({ name: manifest.name, image, checks: manifest.smoke, with: required });
  }
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const testbed: Testbed = flags.vm
    ? { kind: 'vm', vm: await ensureVmRoot(flatcarVersion, { cacheDir: flags.cacheDir, log }), diskSizeMiB }
    : { kind: 'nspawn', root: await ensureTestbedRoot(flatcarVersion, { cacheDir: flags.cacheDir, log }) };
  const results = await runBootTests(testbed, images, {
    timeoutMs: timeoutSeconds * 1000,
    onResult: (r) => process.stderr.write(`${r.result.ok ? 'ok  ' : 'FAIL'} ${path.basename(r.image)} (${seconds(r.result.durationMs)})\n`),
  });
  printTable(['image', 'check', 'result', 'time'], results.flatMap(rows));
  const failed = results.filter((r) => !r.result.ok);
  for (const r of failed) process.stderr.write(report(r));
  if (failed.length > 0) process.exitCode = 1;
}

function rows(r: ImageTestResult): string[][] {
  const image = path.basename(r.image);
  const checks = r.result.checks.map((c) => [image, `${c.kind} ${c.name}`, c.ok ? 'ok' : `FAILED (${c.exitCode})`, seconds(c.durationMs)]);
  if (r.result.problem) checks.push([image, 'boot', `FAILED: ${r.result.problem}`, seconds(r.result.durationMs)]);
  if (checks.length === 0) checks.push([image, '(no smoke checks declared)', 'booted', seconds(r.result.durationMs)]);
  return checks;
}

function report(r: ImageTestResult): string {
  const lines = [`\n== ${path.basename(r.image)}`];
  if (r.result.problem) lines.push(r.result.problem, '-- console (last lines):', tail(r.result.console, 40));
  for (const c of r.result.checks.filter((c) => !c.ok)) lines.push(`-- ${c.kind} ${c.name} (exit ${c.exitCode}):`, tail(c.output, 40));
  lines.push('-- systemd-sysext status:', r.result.sysext.trimEnd());
  if (r.result.journal) lines.push('-- journal (last lines):', tail(r.result.journal, 80));
  return `${lines.join('\n')}\n`;
}

function tail(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
