import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { defaultCacheDir } from '@bakehouse/rootfs';
import { BootTestError } from '../errors.js';
import { probeScript, type Checks } from '../probe.js';
import { oneAtATime, stripAnsi } from '../process.js';
import { collect, place, type BootResult, type PlacedFile } from '../results.js';
import { PROBE_DIR } from '../root.js';
import { DEFAULT_DISK_MIB, ensureBaseDisk, freeMiB, mke2fs, overlay, treeMiB } from './disk.js';
import { chooseAccel, runQemu } from './qemu.js';
import { hostArch } from '../suite.js';
import { RUN_DISK_LABEL, type VmRoot } from './root.js';
import { TEST_IMAGE_PATH, TEST_IMAGE_REF, writeTestImage } from './test-image.js';

/** The virtio-serial port the probe sends its results through, as a tar stream. */
export const RESULTS_PORT = 'org.bakehouse.results';

/** Space the root disk must have left for what the checks do (container images, layers, logs). */
const WORKLOAD_RESERVE_MIB = 1024;

/** What every VM run is given, whatever system disk it boots. */
interface GuestOptions {
  /** The VM root (`ensureVmRoot`): its kernel and initramfs boot the guest; its busybox makes the test container image. */
  vm: VmRoot;
  /** Image name → host .raw file; the guest links /etc/extensions/NAME.raw to it. */
  extensions?: Record<string, string>;
  /** Absolute path in the guest → what to put there before the merge. */
  files?: Record<string, PlacedFile>;
  checks: Checks;
  /** Extra virtio-serial ports the guest sees, such as a guest agent's `org.qemu.guest_agent.0` (qemu listens on a socket of the run). */
  ports?: readonly string[];
  /** The whole run, boot to power-off; default 600 s (a TCG boot alone takes about 35 s). */
  timeoutMs?: number;
  /** How long units may take to become active after boot; default 120 s. */
  unitWaitSeconds?: number;
  /** How long one command may run; default 180 s. */
  commandTimeoutSeconds?: number;
  memoryMiB?: number;
  cacheDir?: string;
  /** qemu's `-name`, to find this run's process by; default the run directory's name. */
  name?: string;
}

export interface VmBootOptions extends GuestOptions {
  /** The root disk's size; default 4096 MiB. */
  diskSizeMiB?: number;
}

export interface DiskBootOptions extends Omit<GuestOptions, 'extensions'> {
  /** A whole raw disk image (e.g. a baked Flatcar disk) booted as /dev/vda; never modified: the run boots a qcow2 overlay of it. */
  disk: string;
  /** Kernel command line after `console=… panic=-1`: at least `root=`, which the disk's layout decides. */
  append: string;
}

/**
 * Boots the VM root under a real kernel (qemu: KVM where it works, else TCG), from a qcow2
 * overlay private to this run, with a second disk holding the images, the files to place
 * and the probe. The probe sends its results back as a tar stream on a virtio-serial port
 * and powers the guest off; a guest that outlasts the timeout is killed.
 */
export async function bootVm(options: VmBootOptions): Promise<BootResult> {
  const diskSizeMiB = options.diskSizeMiB ?? DEFAULT_DISK_MIB;
  const base = await ensureBaseDisk(options.vm.root, diskSizeMiB, WORKLOAD_RESERVE_MIB);
  const free = await freeMiB(base);
  if (free < WORKLOAD_RESERVE_MIB)
    throw new BootTestError(`the VM disk of ${diskSizeMiB} MiB leaves ${free} MiB free, less than the ${WORKLOAD_RESERVE_MIB} MiB the checks may need: pass --vm-disk-size ${diskSizeMiB + WORKLOAD_RESERVE_MIB - free + 512}`);
  return bootGuest(options, base, 'root=/dev/vda rw loglevel=4 systemd.show_status=error');
}

/**
 * Boots a given disk image with the VM root's kernel and initramfs, plus the same run disk as
 * `bootVm`. The disk must itself be a system that mounts /dev/vdb on /bakehouse and runs the
 * testbed's probe and place units (a disk made from the VM root, such as a synthetic Flatcar
 * disk whose USR-A is the root's /usr).
 */
export function bootDisk(options: DiskBootOptions): Promise<BootResult> {
  return bootGuest(options, options.disk, options.append);
}

/** One run: the run disk (images, files, probe, test image), an overlay of `systemDisk`, qemu, the results. */
async function bootGuest(options: GuestOptions, systemDisk: string, append: string): Promise<BootResult> {
  const started = Date.now();
  const run = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-vm-'));
  try {
    const tree = path.join(run, 'disk');
    const io = path.join(run, 'io');
    await mkdir(path.join(tree, 'root'), { recursive: true });
    await mkdir(io, { recursive: true });
    for (const [name, image] of Object.entries(options.extensions ?? {})) {
      await place(tree, `/extensions/${name}.raw`, { copy: image });
      await place(path.join(tree, 'root'), `/etc/extensions/${name}.raw`, { symlink: `${PROBE_DIR}/extensions/${name}.raw` });
    }
    for (const [target, what] of Object.entries(options.files ?? {})) await place(path.join(tree, 'root'), target, what);
    await mkdir(path.dirname(path.join(tree, 'root', TEST_IMAGE_PATH)), { recursive: true });
    await writeTestImage(path.join(options.vm.root, 'usr/bin/busybox'), path.join(tree, 'root', TEST_IMAGE_PATH), options.vm.arch === 'arm64' ? 'arm64' : 'amd64');
    const probe = probeScript(options.checks, {
      environment: { BAKEHOUSE_TEST_IMAGE: TEST_IMAGE_PATH, BAKEHOUSE_TEST_IMAGE_REF: TEST_IMAGE_REF },
      unitWaitSeconds: options.unitWaitSeconds ?? 120,
      commandTimeoutSeconds: options.commandTimeoutSeconds ?? 180,
      resultsPort: `/dev/virtio-ports/${RESULTS_PORT}`,
    });
    await writeFile(path.join(tree, 'probe.sh'), probe);
    const runDisk = path.join(run, 'run.img');
    // ext4 metadata and the results the probe writes need room beyond the files themselves.
    await mke2fs(runDisk, tree, Math.ceil((await treeMiB(tree)) * 1.1) + 64, RUN_DISK_LABEL);
    const rootDisk = path.join(run, 'root.qcow2');
    await overlay(path.resolve(systemDisk), rootDisk);

    // KVM runs the host's architecture only.
    const accel = options.vm.arch === hostArch() ? await chooseAccel(options.vm.kernel, options.cacheDir ?? defaultCacheDir()) : 'tcg';
    const consoleFile = path.join(run, 'console.log');
    const resultsFile = path.join(run, 'results.tar');
    const timeoutMs = options.timeoutMs ?? 600_000;
    // Two TCG guests on two cores would each take twice as long.
    const outcome = await oneAtATime('bakehouse-vm', () =>
      runQemu({
        arch: options.vm.arch,
        kernel: options.vm.kernel,
        initrd: options.vm.initrd,
        append,
        disks: [{ file: rootDisk, format: 'qcow2' }, { file: runDisk, format: 'raw' }],
        outputPorts: { [RESULTS_PORT]: resultsFile },
        socketPorts: Object.fromEntries((options.ports ?? []).map((name, n) => [name, path.join(run, `port-${n}.sock`)])),
        consoleFile,
        accel,
        memoryMiB: options.memoryMiB,
        name: options.name ?? path.basename(run),
        timeoutMs,
      }),
    );
    const console = stripAnsi(await readFile(consoleFile, 'utf8').catch(() => ''));
    let problem: string | undefined;
    if (outcome.timedOut) problem = `the VM did not finish within ${timeoutMs / 1000} s and was killed; last console lines:\n${lastLines(console, 25)}`;
    else if (outcome.exitCode !== 0) problem = `qemu exited with status ${outcome.exitCode}: ${outcome.stderr.trim()}`;
    if ((await stat(resultsFile).catch(() => undefined))?.size) await execa('tar', ['-C', io, '-xf', resultsFile]);
    const testbed = { kind: 'vm' as const, kernel: options.vm.kernelRelease, accel, arch: options.vm.arch };
    return { ...(await collect(io, problem)), console, durationMs: Date.now() - started, testbed };
  } finally {
    await rm(run, { recursive: true, force: true });
  }
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}
