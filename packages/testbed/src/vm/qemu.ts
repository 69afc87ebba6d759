import { constants } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { killTree, signal } from '../process.js';
import { requireTool } from './tools.js';

export type Accel = 'kvm' | 'tcg';

export interface QemuDisk {
  file: string;
  format: 'raw' | 'qcow2';
}

export interface QemuRun {
  /** The guest's architecture; default x86-64. */
  arch?: 'x86-64' | 'arm64';
  kernel: string;
  initrd: string;
  /** Kernel command line, after `console=ttyS0 panic=-1`. */
  append: string;
  disks: QemuDisk[];
  /** virtio-serial port name → file on the host that receives what the guest writes to /dev/virtio-ports/NAME. */
  outputPorts?: Record<string, string>;
  /** virtio-serial port name → host unix socket (qemu listens), e.g. for a guest agent's port. */
  socketPorts?: Record<string, string>;
  /** The guest's console (ttyS0) goes here. */
  consoleFile: string;
  accel: Accel;
  memoryMiB?: number;
  /** The VM's name (`-name`), as `ps` shows it. */
  name?: string;
  timeoutMs: number;
}

export interface QemuOutcome {
  timedOut: boolean;
  exitCode?: number;
  /** qemu's own stderr: bad options, a missing file, a KVM error. */
  stderr: string;
}

const QEMU = 'qemu-system-x86_64';

/** qemu's binary, machine, console device and Debian package per guest architecture. */
const SYSTEMS = {
  'x86-64': { binary: QEMU, machine: 'q35', tcgCpu: 'qemu64', console: 'ttyS0', debianPackage: 'qemu-system-x86' },
  // On an x86-64 host an arm64 guest is always TCG; cortex-a72 has what Debian's arm64 kernel expects.
  arm64: { binary: 'qemu-system-aarch64', machine: 'virt', tcgCpu: 'cortex-a72', console: 'ttyAMA0', debianPackage: 'qemu-system-arm' },
} as const;

/**
 * qemu's arguments for a VM without network (`-nic none`), consoled on the first serial port,
 * that exits when the guest powers off (`-no-reboot`, `panic=-1`). TCG uses `qemu64`: `max`
 * with multi-threaded TCG crashes the guest kernel on these hosts.
 */
export function qemuArgs(run: QemuRun): string[] {
  const ports = [
    ...Object.entries(run.outputPorts ?? {}).map(([name, file], n) => [`-chardev`, `file,id=out${n},path=${file}`, '-device', `virtserialport,chardev=out${n},name=${name}`]),
    ...Object.entries(run.socketPorts ?? {}).map(([name, socket], n) => [`-chardev`, `socket,id=sock${n},path=${socket},server=on,wait=off`, '-device', `virtserialport,chardev=sock${n},name=${name}`]),
  ].flat();
  const system = SYSTEMS[run.arch ?? 'x86-64'];
  return [
    '-machine', system.machine, '-accel', run.accel, '-cpu', run.accel === 'kvm' ? 'host' : system.tcgCpu, '-smp', '2', '-m', String(run.memoryMiB ?? 2048),
    ...(run.name ? ['-name', run.name] : []),
    '-nic', 'none', '-no-reboot', '-display', 'none', '-monitor', 'none', '-serial', `file:${run.consoleFile}`,
    '-kernel', run.kernel, '-initrd', run.initrd, '-append', `console=${system.console} panic=-1 ${run.append}`,
    ...run.disks.flatMap((d) => ['-drive', `file=${d.file},format=${d.format},if=virtio,cache=unsafe`]),
    ...(ports.length > 0 ? ['-device', 'virtio-serial-pci', ...ports] : []),
  ];
}

/** Runs qemu until the guest powers off or `timeoutMs` passes; qemu and its children never outlive the call. */
export async function runQemu(run: QemuRun): Promise<QemuOutcome> {
  const system = SYSTEMS[run.arch ?? 'x86-64'];
  await requireTool(system.binary, system.debianPackage);
  const child = execa(system.binary, qemuArgs(run), { stdin: 'ignore', stdout: 'ignore', reject: false, detached: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid) signal(-child.pid, 'SIGKILL');
  }, run.timeoutMs);
  try {
    const result = await child;
    return { timedOut, exitCode: result.exitCode, stderr: String(result.stderr ?? '') };
  } finally {
    clearTimeout(timer);
    if (child.pid) await killTree(child.pid);
  }
}

/**
 * KVM where it works, else TCG. /dev/kvm can exist and still fail (an MSR assertion, "KVM
 * internal error" on nested hosts), so a short boot of `kernel` without a root must reach
 * its panic. The verdict is kept for this boot of the host. BAKEHOUSE_VM_ACCEL forces one.
 */
export async function chooseAccel(kernel: string, cacheDir: string, env: NodeJS.ProcessEnv = process.env): Promise<Accel> {
  const forced = env.BAKEHOUSE_VM_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (!(await access('/dev/kvm', constants.R_OK | constants.W_OK).then(() => true, () => false))) return 'tcg';
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown')).trim();
  const verdictFile = path.join(cacheDir, 'vm', `kvm-${bootId}`);
  const known = (await readFile(verdictFile, 'utf8').catch(() => '')).trim();
  if (known === 'kvm' || known === 'tcg') return known;
  const accel: Accel = (await kvmBoots(kernel)) ? 'kvm' : 'tcg';
  await mkdir(path.dirname(verdictFile), { recursive: true });
  await writeFile(verdictFile, `${accel}\n`);
  return accel;
}

async function kvmBoots(kernel: string): Promise<boolean> {
  const consoleFile = path.join(os.tmpdir(), `bakehouse-kvm-probe-${process.pid}.log`);
  try {
    // No initrd and no root disk: a working KVM boots the kernel to its "unable to mount root" panic in seconds.
    const args = ['-accel', 'kvm', '-cpu', 'host', '-m', '256', '-nic', 'none', '-no-reboot', '-display', 'none', '-monitor', 'none', '-serial', `file:${consoleFile}`, '-kernel', kernel, '-append', 'console=ttyS0 panic=-1'];
    await execa(QEMU, args, { stdin: 'ignore', reject: false, timeout: 30_000 });
    return /Kernel panic/.test(await readFile(consoleFile, 'utf8').catch(() => ''));
  } finally {
    await execa('rm', ['-f', consoleFile]);
  }
}
