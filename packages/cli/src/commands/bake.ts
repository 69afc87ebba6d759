import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { bakeDisk, BakeError, type BakeImageRequest, type BakeSummary, type Placement } from '@bakehouse/disk';
import { compareVersions } from '@bakehouse/publish';
import { findWorkspaceRoot, loadAllExtensions, type LoadedExtension } from '../workspace.js';

export interface BakeFlags {
  out?: string;
  sysupdate?: string;
  sysupdateKeyring?: string;
  maskBuiltins?: boolean;
  ignition?: string;
  verifySig?: string;
  keyring?: string;
  verityCert?: string;
}

/**
 * `bakehouse bake DISK EXT[=root|oem]…`: an EXT with a slash or ending in .raw is an image file;
 * otherwise it names a workspace extension, whose newest image per architecture in
 * extensions/NAME/dist is a candidate (bake takes the one for the disk's architecture).
 */
export async function runBake(disk: string, specs: string[], flags: BakeFlags): Promise<void> {
  if (flags.verifySig && !flags.keyring) throw new BakeError('--verify-sig needs --keyring FILE: the key to check the signature with (Flatcar\'s image signing key)');
  if (flags.sysupdate && !flags.sysupdateKeyring) throw new BakeError('--sysupdate needs --sysupdate-keyring FILE: the published tree\'s bakehouse-pubring.gpg, which systemd-sysupdate checks SHA256SUMS.gpg with');
  const extensions = await workspaceExtensions();
  const images: BakeImageRequest[] = [];
  for (const spec of specs) images.push(await resolveImage(spec, extensions));
  const out = flags.out ?? defaultOut(disk);
  const summary = await bakeDisk({
    disk,
    out,
    images,
    maskBuiltins: flags.maskBuiltins ?? false,
    builtinConflictsOf: (name) => extensions?.find((e) => e.manifest.name === name)?.manifest.conflicts.builtins,
    ...(flags.sysupdate ? { sysupdate: { baseUrl: flags.sysupdate, pubring: flags.sysupdateKeyring! } } : {}),
    ...(flags.ignition ? { ignition: flags.ignition } : {}),
    ...(flags.verityCert ? { verityCert: flags.verityCert } : {}),
    ...(flags.verifySig ? { signature: { file: flags.verifySig, keyring: flags.keyring! } } : {}),
    ...(process.env.SOURCE_DATE_EPOCH ? { sourceDateEpoch: Number(process.env.SOURCE_DATE_EPOCH) } : {}),
  });
  process.stdout.write(renderSummary(summary));
}

function defaultOut(disk: string): string {
  const base = path.basename(disk).replace(/\.bz2$/, '');
  const ext = /\.(bin|img|raw|qcow2)$/.exec(base)?.[0] ?? '.bin';
  return path.join(path.dirname(disk), `${base.slice(0, base.length - (base.endsWith(ext) ? ext.length : 0))}.baked${ext}`);
}

async function workspaceExtensions(): Promise<LoadedExtension[] | undefined> {
  const root = await findWorkspaceRoot().catch(() => undefined);
  return root === undefined ? undefined : loadAllExtensions(root);
}

async function resolveImage(spec: string, extensions: LoadedExtension[] | undefined): Promise<BakeImageRequest> {
  const placed = /^(.*)=(root|oem)$/.exec(spec);
  const what = placed ? placed[1]! : spec;
  const placement = placed ? (placed[2] as Placement) : undefined;
  const base = { label: what, ...(placement ? { placement } : {}) };
  if (what.includes('/') || what.endsWith('.raw')) {
    await stat(what).catch(() => {
      throw new BakeError(`${what}: no such image file`);
    });
    return { ...base, files: [what] };
  }
  const extension = extensions?.find((e) => e.manifest.name === what);
  if (!extension) throw new BakeError(`${what} is neither an image file nor an extension in this workspace's extensions/: pass a .raw path or an extension name`);
  return { ...base, files: await newestPerArch(extension), builtinConflicts: extension.manifest.conflicts.builtins };
}

/** The newest built image of each architecture, from the build records in dist/. */
async function newestPerArch(extension: LoadedExtension): Promise<string[]> {
  const dist = path.join(extension.dir, 'dist');
  const newest = new Map<string, { version: string; file: string }>();
  for (const entry of await readdir(dist).catch(() => [] as string[])) {
    if (!entry.endsWith('.json')) continue;
    const record = JSON.parse(await readFile(path.join(dist, entry), 'utf8')) as { name?: string; version?: string; arch?: string; image?: { file?: string } };
    if (record.name !== extension.manifest.name || !record.version || !record.arch || !record.image?.file) continue;
    const before = newest.get(record.arch);
    if (!before || compareVersions(record.version, before.version) > 0) newest.set(record.arch, { version: record.version, file: path.join(dist, record.image.file) });
  }
  if (newest.size === 0) throw new BakeError(`${extension.manifest.name} has no built image in ${path.relative(process.cwd(), dist) || dist}: run bakehouse build ${extension.manifest.name} first`);
  return [...newest.values()].map((n) => n.file);
}

function renderSummary(summary: BakeSummary): string {
  const size = (bytes: number) => (bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);
  const lines = [`baked Flatcar ${summary.flatcarVersion} (${summary.arch}, ${summary.format}) into ${summary.out}`];
  for (const w of summary.written)
    lines.push(`  ${w.volume.padEnd(4)}  ${w.hostPath}${w.target ? ` -> ${w.target}` : ''}${w.bytes !== undefined ? `  (${size(w.bytes)})` : ''}  ${w.description}`);
  lines.push('Flatcar\'s signature of the input no longer applies to the output; USR-A/B and the GPT are unchanged.');
  return `${lines.join('\n')}\n`;
}
