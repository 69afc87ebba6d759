import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { BootResult, PlacedFile } from '../index.js';

/**
 * The operator's documented containerd override (Flatcar's "Use a custom containerd
 * configuration"): a config in /etc and a drop-in pointing CONTAINERD_CONFIG at it. The
 * image's own default is version 2 as well, which Debian's containerd 1.7 (the fixture's) and
 * containerd 2.x both read; tests that place this exercise the override path.
 */
export const CONTAINERD_V2_CONFIG: Record<string, PlacedFile> = {
  '/etc/containerd/config.toml': `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  BinaryName = "/usr/bin/runc"
  SystemdCgroup = true
`,
  '/etc/systemd/system/containerd.service.d/10-use-custom-config.conf': '[Service]\nEnvironment=CONTAINERD_CONFIG=/etc/containerd/config.toml\n',
};

export function describeFailure(result: BootResult): string {
  return JSON.stringify({ problem: result.problem, failed: result.checks.filter((c) => !c.ok), sysext: result.sysext, journal: result.journal?.slice(-6000), console: result.console.slice(-3000) }, null, 2);
}

/** A stand-in for one of Flatcar's built-in images (which live in /usr/share/flatcar/sysext). */
export async function makeBuiltin(file: string, name: string): Promise<void> {
  const tree = await mkdtemp(path.join(os.tmpdir(), 'builtin-'));
  try {
    await mkdir(path.join(tree, 'usr/lib/extension-release.d'), { recursive: true });
    await writeFile(path.join(tree, 'usr/lib/extension-release.d', `extension-release.${name}`), 'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n');
    await mkdir(path.join(tree, 'usr/share', name), { recursive: true });
    await writeFile(path.join(tree, 'usr/share', name, 'marker'), `${name}\n`);
    await execa('mksquashfs', [tree, file, '-all-root', '-noappend', '-quiet']);
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}

export const output = (result: BootResult, name: string) => result.checks.find((c) => c.name === name)?.output ?? '';
