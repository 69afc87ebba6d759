import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parseExtensionRelease, sha256File } from '@bakehouse/builder';
import { checkSignature } from '@bakehouse/publish';
import { ensureDir, makeBtrfs, mib, restoreBtrfs, settle, treeBytes } from './btrfs.js';
import { BakeError } from './errors.js';
import { nodeType, readExtFile, readExtLink, runDebugfs, quote, type ExtVolume } from './ext4.js';
import { readExtensionImage, type ExtensionImage } from './images.js';
import { detectDiskFormat, exportDisk, extractRegion, materializeRaw, writeRegion, type DiskFormat } from './input.js';
import { filesystemKind, readBtrfsSuperblock, readExt4Superblock, readFlatcarLayout, type FlatcarLayout } from './layout.js';
import { requireCommand, TOOL_ENV } from './tools.js';
import { BOARD_ARCH, planBake, type DiskFacts, type Placement, type PlannedImage, type Write } from './plan.js';

export interface BakeImageRequest {
  /** What the operator typed (an extension name or a path), for messages. */
  label: string;
  /** Candidate files, e.g. one per architecture: bake takes the one for the disk's architecture. */
  files: string[];
  placement?: Placement;
  /** Flatcar built-ins the extension replaces (manifest conflicts.builtins), when known. */
  builtinConflicts?: readonly string[];
}

export interface BakeRequest {
  disk: string;
  out: string;
  images: BakeImageRequest[];
  maskBuiltins?: boolean;
  /** Install sysupdate transfers for the tree published at `baseUrl`, whose binary keyring is `pubring`. */
  sysupdate?: { baseUrl: string; pubring: string };
  /** Certificate of signed DDIs: they are verified against it, and it goes to /etc/verity.d. */
  verityCert?: string;
  /** A user Ignition config (JSON) for /oem/config.ign. */
  ignition?: string;
  /** Flatcar's detached signature of `disk` and the keyring to check it with, before anything else. */
  signature?: { file: string; keyring: string };
  /** The built-ins an extension replaces, for images whose request names none (the CLI reads the workspace's manifests). */
  builtinConflictsOf?: (name: string) => readonly string[] | undefined;
  /** Times of what bake writes; default: ROOT's creation time, so the output depends on the inputs only. */
  sourceDateEpoch?: number;
}

export interface BakeSummary {
  out: string;
  format: DiskFormat;
  flatcarVersion: string;
  arch: string;
  /** Host paths (/oem/… for the OEM partition) with what they are. */
  written: { volume: 'ROOT' | 'OEM'; hostPath: string; description: string; bytes?: number; target?: string }[];
}

/**
 * Bakes extension images into a copy of a Flatcar disk image: every check first, then the edits
 * on a sparse temporary copy beside `out`, renamed into place at the end. Needs no root, loop
 * device or mount; the GPT, USR-A/B and every partition but ROOT and OEM keep their bytes.
 */
export async function bakeDisk(request: BakeRequest): Promise<BakeSummary> {
  const out = path.resolve(request.out);
  if (out === path.resolve(request.disk)) throw new BakeError(`--out ${request.out} is the input disk: bake never edits its input; name another file`);
  await Promise.all((['debugfs', 'btrfs', 'mkfs.btrfs', 'unsquashfs'] as const).map(requireCommand));
  if (request.signature) await checkDiskSignature(request.disk, request.signature);
  const ignition = request.ignition ? await readIgnition(request.ignition) : undefined;
  const sysupdate = request.sysupdate ? await readSysupdate(request.sysupdate) : undefined;
  const format = await detectDiskFormat(request.disk);
  await mkdir(path.dirname(out), { recursive: true });
  const work = await mkdtemp(path.join(path.dirname(out), `.${path.basename(out)}.bake-`));
  try {
    const raw = path.join(work, 'disk.raw');
    await materializeRaw(request.disk, format, raw);
    const layout = await readFlatcarLayout(raw, request.disk);
    const disk = await readDiskFacts(raw, layout, request.disk, work);
    const images = await Promise.all(request.images.map((r) => chooseImage(r, disk, request.verityCert, request.builtinConflictsOf)));
    const sha256 = new Map<string, string>();
    if (request.sysupdate) for (const { image } of images) sha256.set(image.file, await sha256File(image.file));
    const writes = planBake(disk, images, { maskBuiltins: request.maskBuiltins ?? false, sha256, ...(sysupdate ? { sysupdate } : {}), ...(ignition ? { ignition } : {}) });

    const rootSb = await readExt4Superblock(raw, layout.root);
    const time = request.sourceDateEpoch || rootSb.mkfsTime || 1;
    const rootVolume: ExtVolume = { disk: raw, offset: layout.root.offset, name: `ROOT (partition ${layout.root.number})` };
    const staged = path.join(work, 'content');
    await mkdir(staged);
    const rootWrites = writes.filter((w) => w.volume === 'ROOT');
    const oemWrites = writes.filter((w) => w.volume === 'OEM');
    await writeRoot(rootVolume, rootWrites, rootSb, staged, time);
    if (oemWrites.length) await rebuildOem(raw, layout, oemWrites, work, time);
    await exportDisk(raw, format, out);
    return { out, format, flatcarVersion: disk.osRelease.VERSION_ID ?? '?', arch: disk.arch, written: await describe(writes) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function checkDiskSignature(disk: string, { file, keyring }: { file: string; keyring: string }): Promise<void> {
  const head = await readFile(keyring).catch((error: NodeJS.ErrnoException) => {
    throw new BakeError(`the keyring ${keyring} cannot be read (${error.code ?? error.message}): pass Flatcar's signing key (https://www.flatcar.org/security/image-signing-key/)`);
  });
  await requireCommand('gpgv');
  let ring = keyring;
  const dir = await mkdtemp(path.join(path.dirname(path.resolve(disk)), '.bake-keyring-')).catch(() => undefined);
  try {
    // gpgv reads binary keyrings only; Flatcar publishes its key armored.
    if (dir && head.toString('latin1', 0, 36).includes('-----BEGIN PGP PUBLIC KEY BLOCK')) {
      ring = path.join(dir, 'keyring.gpg');
      await execa('gpg', ['--batch', '--yes', '--dearmor', '--output', ring, keyring]);
    }
    if (!(await checkSignature(ring, disk, file)))
      throw new BakeError(`${disk} does not match its signature ${file} with the keys in ${keyring}: the image is damaged or not Flatcar's. Download it again (with its .sig)`);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

async function readDiskFacts(raw: string, layout: FlatcarLayout, shownAs: string, work: string): Promise<DiskFacts> {
  const usr = layout.usrA;
  const name = `USR-A (partition ${usr.number})`;
  const kind = await filesystemKind(raw, usr);
  let text: string | undefined;
  if (kind === 'ext') {
    const volume: ExtVolume = { disk: raw, offset: usr.offset, name };
    let file = '/lib/os-release';
    const target = await readExtLink(volume, file);
    if (target !== undefined) file = target.startsWith('/') ? target.replace(/^\/usr\//, '/') : path.posix.join('/lib', target);
    text = (await readExtFile(volume, file))?.toString();
  } else if (kind === 'btrfs') {
    const image = path.join(work, 'usr-a.img');
    const dir = path.join(work, 'usr-a');
    await extractRegion(raw, usr.offset, usr.size, image);
    await mkdir(dir);
    await execa('btrfs', ['restore', '--path-regex', '^/(|lib(|/os-release))$', image, dir], { reject: false, env: TOOL_ENV });
    text = await readFile(path.join(dir, 'lib/os-release'), 'utf8').catch(() => undefined);
    await rm(image, { force: true });
  } else throw new BakeError(`${shownAs}: unknown disk layout: ${name} holds neither btrfs nor ext2/4`);
  if (text === undefined) throw new BakeError(`${shownAs}: ${name} has no /usr/lib/os-release: it is not a Flatcar /usr`);
  const osRelease = parseExtensionRelease(text);
  const board = osRelease.FLATCAR_BOARD;
  const arch = board === undefined ? undefined : BOARD_ARCH[board];
  if (!arch) throw new BakeError(`${shownAs}: the os-release on ${name} names ${board === undefined ? 'no FLATCAR_BOARD' : `the board ${board}`}; bake knows ${Object.keys(BOARD_ARCH).join(', ')}`);
  if (!osRelease.VERSION_ID) throw new BakeError(`${shownAs}: the os-release on ${name} has no VERSION_ID`);
  return { osRelease, arch };
}

async function chooseImage(
  request: BakeImageRequest,
  disk: DiskFacts,
  verityCert: string | undefined,
  builtinConflictsOf: BakeRequest['builtinConflictsOf'],
): Promise<PlannedImage> {
  if (request.files.length === 0) throw new BakeError(`${request.label}: no image to bake`);
  const read: ExtensionImage[] = [];
  for (const file of request.files) read.push(await readExtensionImage(file, verityCert));
  // The one for this disk's architecture; otherwise the first, which planBake refuses by name.
  const image = read.find((i) => i.arch === undefined || i.arch === disk.arch) ?? read[0]!;
  return { image, placement: request.placement, builtinConflicts: request.builtinConflicts ?? builtinConflictsOf?.(image.name) ?? [] };
}

async function readIgnition(file: string): Promise<Buffer> {
  const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new BakeError(`the Ignition config ${file} cannot be read (${error.code ?? error.message})`);
  });
  let config: { ignition?: { version?: unknown } };
  try {
    config = JSON.parse(bytes.toString()) as typeof config;
  } catch {
    throw new BakeError(`${file} is not JSON: --ignition takes an Ignition config; translate a Butane file first (butane --strict config.bu > config.ign)`);
  }
  if (typeof config.ignition?.version !== 'string') throw new BakeError(`${file} has no ignition.version: it is not an Ignition config`);
  return bytes;
}

async function readSysupdate({ baseUrl, pubring }: { baseUrl: string; pubring: string }) {
  if (!/^https?:\/\/\S+$/.test(baseUrl)) throw new BakeError(`--sysupdate ${baseUrl}: expected the published tree's base URL (publish --base-url), e.g. https://sysext.example.org/flatcar`);
  const bytes = await readFile(pubring).catch((error: NodeJS.ErrnoException) => {
    throw new BakeError(`the sysupdate keyring ${pubring} cannot be read (${error.code ?? error.message}): pass the tree's bakehouse-pubring.gpg`);
  });
  if (bytes.toString('latin1', 0, 10) === '-----BEGIN') throw new BakeError(`${pubring} is armored: systemd-sysupdate needs a binary keyring, the tree's bakehouse-pubring.gpg`);
  return { baseUrl: baseUrl.replace(/\/+$/, ''), pubring: bytes, pubringSha256: createHash('sha256').update(bytes).digest('hex') };
}

/** ROOT, edited in place with debugfs: parents created, existing files and links replaced, all root-owned with explicit modes. */
async function writeRoot(volume: ExtVolume, writes: readonly Write[], sb: { blockSize: number; freeBlocks: number }, staged: string, time: number): Promise<void> {
  if (writes.length === 0) return;
  const commands: string[] = [];
  const own = (file: string) => commands.push(`sif ${quote(file)} uid 0`, `sif ${quote(file)} gid 0`);
  const dirs = [...new Set(writes.flatMap((w) => ancestors(w.path)))].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  let blocks = 16;
  for (const dir of dirs) {
    const type = await nodeType(volume, dir);
    if (type === 'directory') continue;
    if (type !== 'missing') throw new BakeError(`${volume.name}: ${dir} is a ${type}, not a directory: bake will not replace it`);
    commands.push(`mkdir ${quote(dir)}`, `sif ${quote(dir)} mode 040755`);
    own(dir);
    blocks += 1;
  }
  let n = 0;
  for (const write of writes) {
    const type = await nodeType(volume, write.path);
    if (type === 'directory') throw new BakeError(`${volume.name}: ${write.path} is a directory: remove it from the disk first`);
    if (type !== 'missing') commands.push(`rm ${quote(write.path)}`);
    if (write.kind === 'symlink') {
      commands.push(`symlink ${quote(write.path)} ${quote(write.target)}`, `sif ${quote(write.path)} mode 0120777`);
      if (write.target.length >= 60) blocks += 1;
    } else {
      let source = write.kind === 'file' ? write.from : path.join(staged, `root-${n++}`);
      if (write.kind === 'content') await writeFile(source, write.content);
      source = path.resolve(source);
      const size = write.kind === 'file' ? (await stat(source)).size : write.content.length;
      const dataBlocks = Math.ceil(size / sb.blockSize);
      blocks += dataBlocks + 1 + Math.ceil(dataBlocks / (32768 * 340));
      commands.push(`write ${quote(source)} ${quote(write.path)}`, `sif ${quote(write.path)} mode 0${(0o100000 | write.mode).toString(8)}`);
    }
    own(write.path);
  }
  if (blocks > sb.freeBlocks)
    throw new BakeError(
      `${volume.name} has ${mib(sb.freeBlocks * sb.blockSize)} free, the baked files need ${mib(blocks * sb.blockSize)}: ${mib((blocks - sb.freeBlocks) * sb.blockSize)} missing. ` +
        `Bake into a disk with a larger ROOT (grow the image, sgdisk -e, then grow ROOT with sgdisk and resize2fs), or put the large images on OEM (EXT=oem)`,
    );
  await runDebugfs(volume, commands, time);
}

function ancestors(file: string): string[] {
  const parts = file.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

/** OEM has no offline writer: restore its files, add ours, make a new btrfs of the same size, label and UUID, write it back. */
async function rebuildOem(raw: string, layout: FlatcarLayout, writes: readonly Write[], work: string, time: number): Promise<void> {
  const part = layout.oem;
  const name = `OEM (partition ${part.number})`;
  const sb = await readBtrfsSuperblock(raw, part);
  if (sb.totalBytes > part.size) throw new BakeError(`${name}: its btrfs claims ${sb.totalBytes} bytes, more than the ${part.size}-byte partition: the disk is damaged`);
  const before = path.join(work, 'oem-before.img');
  const tree = path.join(work, 'oem');
  await extractRegion(raw, part.offset, sb.totalBytes, before);
  await mkdir(tree);
  await restoreBtrfs(before, tree, name);
  await rm(before);
  await checkOemInstall(tree, writes, name);
  for (const write of writes) {
    const target = path.join(tree, write.path);
    for (const dir of ancestors(write.path)) await ensureDir(path.join(tree, dir), time);
    await rm(target, { force: true });
    if (write.kind === 'symlink') await symlink(write.target, target);
    else if (write.kind === 'file') await copyFile(write.from, target);
    else await writeFile(target, write.content);
    await settle(target, write.kind === 'symlink' ? undefined : write.mode, time);
  }
  // Adding an entry touches its directory: settle the directories last, deepest first.
  const touched = [...new Set(writes.flatMap((w) => ancestors(w.path)))].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const dir of touched) await settle(path.join(tree, dir), 0o755, time);
  await settle(tree, 0o755, time);
  const after = path.join(work, 'oem-after.img');
  await makeBtrfs(tree, after, { label: sb.label, fsid: sb.fsid, size: sb.totalBytes }, name, await treeBytes(tree));
  await writeRegion(raw, part.offset, after, sb.totalBytes);
  await rm(after);
}

/** One OEM per disk: a different active OEM is refused, older files of the same one are replaced. */
async function checkOemInstall(tree: string, writes: readonly Write[], name: string): Promise<void> {
  const active = writes.find((w) => w.path.startsWith('/sysext/active-oem-'));
  if (!active) return;
  const id = active.path.slice('/sysext/active-oem-'.length);
  const present = await readdir(path.join(tree, 'sysext')).catch(() => [] as string[]);
  const other = present.find((f) => f.startsWith('active-oem-') && f !== `active-oem-${id}`);
  if (other) throw new BakeError(`${name} already holds the OEM ${other.slice('active-'.length)}: a disk has one OEM. Start from Flatcar's generic image (flatcar_production_image.bin)`);
  for (const file of present) if (file.startsWith(`oem-${id}-`) && file.endsWith('.raw')) await rm(path.join(tree, 'sysext', file));
}

async function describe(writes: readonly Write[]): Promise<BakeSummary['written']> {
  return Promise.all(
    writes.map(async (w) => ({
      volume: w.volume,
      hostPath: w.volume === 'OEM' ? `/oem${w.path}` : w.path,
      description: w.why,
      ...(w.kind === 'symlink' ? { target: w.target } : { bytes: w.kind === 'content' ? w.content.length : (await stat(w.from)).size }),
    })),
  );
}
