import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { Arch } from '@bakehouse/schema';
import { requireTool } from '../tools.js';
import { uuidFrom } from '../image.js';
import { ddiToolsRoot } from './tools-root.js';

/** Where the key and certificate that sign DDIs come from. */
export interface SigningKey {
  /** A PEM file, or a PKCS#11 URI ("pkcs11:…") that systemd-repart reads through `keySource`. */
  key: string;
  /** PEM certificate matching the key; hosts trust it from /etc/verity.d/. */
  cert: string;
  /** systemd-repart's --private-key-source: "file" (default), "engine:NAME" or "provider:NAME" (e.g. "provider:pkcs11"). */
  keySource?: string;
}

/**
 * mkfs.erofs options for the data partition, per compression. lz4hc at level 12 in physical
 * clusters of up to 64 KiB with file tails packed into their inodes, as Flatcar's sysext-bakery
 * makes erofs sysexts (lz4hc decompresses fastest, which matters on first read from the verity
 * device). Its `-Efragments` is left out: Debian 12's erofs-utils 1.5 cannot read images with
 * fragments ("unidentified incompatible feature"), so `bakehouse verify` would fail there; the
 * price is size on images of many small files (oem-qemu's data: 11.5 MiB against 10.0 MiB with
 * fragments, bench/README.md). Needs Linux ≥ 5.17 on the host that merges the image
 * (ztailpacking; big physical clusters need 5.13). `none` is for comparison.
 */
export const DDI_EROFS_OPTIONS = {
  lz4hc: ['-zlz4hc,12', '-C65536', '-Eztailpacking'],
  none: [],
} as const satisfies Record<string, readonly string[]>;
export type DdiCompression = keyof typeof DDI_EROFS_OPTIONS;
export const DEFAULT_DDI_COMPRESSION: DdiCompression = 'lz4hc';

export interface DdiRequest {
  stageDir: string;
  /** The image file to write (a temporary name; callers rename it into place). */
  output: string;
  arch: Arch;
  /** NAME-VERSION-ARCH: seeds every UUID, so the same tree gives the same bytes. */
  identity: string;
  sourceDateEpoch: number;
  signing: SigningKey;
  /** Where the tools root is cached (the build's cache directory). */
  cacheDir: string;
  /** The data partition's compression (default lz4hc); `none` makes the uncompressed image the bench compares against. */
  compression?: DdiCompression;
  log?: (message: string) => void;
}

export interface DdiResult {
  tool: string;
  version: string;
  /** The dm-verity root hash the signature covers, hex. */
  rootHash: string;
}

export class DdiError extends Error {
  override readonly name = 'DdiError';
}

/**
 * Runs the script as root in a private mount namespace: the cached root, read-only, with
 * fresh /tmp, /var/tmp and /proc, and the stage, output directory, key and certificate bound
 * in under /run/bakehouse. Nothing is written into the cached root, so builds can share it.
 */
const CHROOT_SCRIPT = `set -eu
root=$1 stage=$2 outdir=$3 key=$4 cert=$5; shift 5
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
for dir in tmp var/tmp run; do mount -t tmpfs tmpfs "$root/$dir"; done
mount -t proc proc "$root/proc"
mkdir -p "$root/run/bakehouse/tree" "$root/run/bakehouse/out"
mount --bind -o ro "$stage" "$root/run/bakehouse/tree"
mount --bind "$outdir" "$root/run/bakehouse/out"
touch "$root/run/bakehouse/cert.pem"
mount --bind -o ro "$cert" "$root/run/bakehouse/cert.pem"
if [ -n "$key" ]; then
  touch "$root/run/bakehouse/key.pem"
  mount --bind -o ro "$key" "$root/run/bakehouse/key.pem"
fi
exec chroot "$root" "$@"
`;

/**
 * A signed systemd discoverable disk image (DDI) of the staged tree: GPT with an erofs root
 * partition, its dm-verity hash partition and a signature partition (PKCS#7 over the root
 * hash), made by the real systemd-repart --make-ddi=sysext. --offline keeps it away from loop
 * devices; --seed and SOURCE_DATE_EPOCH make it reproducible (with an RSA key, whose
 * PKCS#1 v1.5 signatures are deterministic). systemd-repart appends SYSTEMD_REPART_MKFS_OPTIONS_EROFS
 * to its own mkfs.erofs options (UUID, root ownership), which keeps its sysext partition
 * definitions upstream's own instead of a copy with `Compression=`.
 */
export async function makeDdi(request: DdiRequest): Promise<DdiResult> {
  await requireTool('unshare');
  await checkReadable(request.signing.cert, 'certificate');
  const fileKey = !request.signing.key.startsWith('pkcs11:');
  if (fileKey) await checkReadable(request.signing.key, 'private key');
  const root = await ddiToolsRoot(request.cacheDir, request.log);
  const outName = path.basename(request.output);
  const repart = [
    'systemd-repart',
    '--offline=yes',
    '--make-ddi=sysext',
    `--architecture=${request.arch}`,
    '--copy-source=/run/bakehouse/tree',
    `--private-key=${fileKey ? '/run/bakehouse/key.pem' : request.signing.key}`,
    ...(request.signing.keySource ? [`--private-key-source=${request.signing.keySource}`] : []),
    '--certificate=/run/bakehouse/cert.pem',
    `--seed=${uuidFrom(`ddi:${request.identity}`)}`,
    '--json=short',
    `/run/bakehouse/out/${outName}`,
  ];
  const args = [root, request.stageDir, path.dirname(request.output), fileKey ? request.signing.key : '', request.signing.cert, ...repart];
  const result = await execa('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '-m', '--propagation', 'private', 'sh', '-c', CHROOT_SCRIPT, 'sh', ...args], {
    env: {
      SOURCE_DATE_EPOCH: String(request.sourceDateEpoch),
      SYSTEMD_REPART_MKFS_OPTIONS_EROFS: DDI_EROFS_OPTIONS[request.compression ?? DEFAULT_DDI_COMPRESSION].join(' '),
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
    },
    extendEnv: false,
    reject: false,
  });
  if (result.exitCode !== 0)
    throw new DdiError(`systemd-repart --make-ddi=sysext failed (exit ${result.exitCode}${result.signal ? `, ${result.signal}` : ''}) for ${request.identity}:\n${tail(result.stderr)}`);
  const partitions = JSON.parse(result.stdout) as { type: string; roothash?: string }[];
  const rootHash = partitions.find((p) => p.roothash)?.roothash;
  if (!rootHash) throw new DdiError(`systemd-repart made ${request.identity} without a verity root hash:\n${result.stdout}`);
  const version = /systemd (\d+)/.exec((await execa('chroot', [root, 'systemd-repart', '--version'])).stdout)?.[1] ?? 'unknown';
  return { tool: 'systemd-repart', version, rootHash };
}

async function checkReadable(file: string, what: string): Promise<void> {
  await access(file).catch(() => {
    throw new DdiError(`the signing ${what} ${file} cannot be read: pass an existing PEM file (--sign-key / --sign-cert)`);
  });
  if (what === 'certificate' && !(await readFile(file, 'utf8')).includes('-----BEGIN CERTIFICATE-----'))
    throw new DdiError(`the signing certificate ${file} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----")`);
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-15).join('\n');
}
