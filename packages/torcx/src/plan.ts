import type { Arch } from '@bakehouse/schema';
import { TorcxError } from './errors.js';
import type { TorcxImageName } from './image-name.js';
import { rewriteUnit } from './units.js';

/** One file or symlink of the unpacked Torcx image, as the reader saw it. */
export interface ArchiveItem {
  /** Path in the archive, normalised: "bin/dockerd". */
  path: string;
  type: 'file' | 'symlink';
  /** The symlink's target. */
  target?: string;
  /** The text of files under lib/systemd/ and of .torcx/manifest.json. */
  text?: string;
  /** Set for ELF files: the machine, and the arch when Flatcar runs on it. */
  elf?: { machine: number; arch: Arch | undefined };
}

export interface TorcxInventory {
  image: TorcxImageName;
  items: ArchiveItem[];
}

export interface ConversionOptions {
  /** The extension (and image) name. */
  name: string;
  version: string;
  /** Needed only when no ELF file tells the architecture; otherwise it must agree with them. */
  arch?: Arch;
}

/** One path of the converted tree and where it comes from. */
export interface PlannedEntry {
  /** Archive path. */
  from: string;
  /** Image path, e.g. "/usr/bin/dockerd". */
  to: string;
  /** The rewritten unit; absent for entries that move unchanged. */
  text?: string;
}

/** An `enable` declaration of the manifest, made from a `TARGET.wants/UNIT` link. */
export interface EnableDeclaration {
  unit: string;
  target: string;
}

export interface ConversionReport {
  archive: string;
  /** What the architecture was read from: "the ELF header of bin/dockerd", or "--arch". */
  archFrom: string;
  /** Top-level directories moved into /usr, with how many entries each held. */
  moved: { from: string; to: string; entries: number }[];
  rewritten: { path: string; changes: string[] }[];
  enabled: { link: string; unit: string; target: string; shipped: boolean }[];
  /** Top-level entries left out, with why. */
  dropped: { path: string; entries: number; reason: string }[];
  /** What the image kept in /etc, which systemd-sysext cannot carry. */
  notCarried: string[];
  /** Flattened libraries in /usr/lib, on the host's library search path. */
  shadowing: string[];
  /** Unit lines that still mention a TORCX_ variable after the rewrite. */
  unresolved: { path: string; line: string }[];
  /** Flatcar built-in images that ship the same commands. */
  builtins: string[];
}

export interface ConversionPlan {
  name: string;
  version: string;
  arch: Arch;
  /** Sorted by image path. */
  entries: PlannedEntry[];
  enable: EnableDeclaration[];
  report: ConversionReport;
}

const MANIFEST_PATH = '.torcx/manifest.json';
const MANIFEST_KIND = 'image-manifest-v0';

/** Where each top-level directory of a Torcx image goes; build_torcx_store put binaries in bin/ and libraries in lib/. */
const MOVES: Record<string, string> = { bin: '/usr/bin', lib: '/usr/lib', usr: '/usr' };

const ETC_REASON =
  'systemd-sysext merges only /usr and /opt, so /etc cannot come from an image: write these files with Ignition (storage.files), or ship defaults under /usr/share and copy them with a tmpfiles.d "C" line';
const TORCX_REASON = 'Torcx metadata; a sysext is described by its extension-release file instead';
const OTHER_REASON = 'outside bin/, lib/ and usr/, the only places a Torcx image exposes; systemd-sysext merges only /usr and /opt';

const WANTS_LINK = /^\/usr\/lib\/systemd\/system\/([^/]+)\.wants\/([^/]+)$/;
const UNIT_NAME = /^[A-Za-z0-9:_.@\\-]+\.(service|socket|timer|path|mount|automount|target|slice)$/;
const UNIT_FILE = /^\/usr\/lib\/systemd\//;
const FLATTENED_LIBRARY = /^\/usr\/lib\/[^/]+\.so(\.[^/]*)?$/;

/** Commands whose presence means the image replaces a Flatcar built-in sysext (Flatcar's own docker and containerd since 3794.0.0). */
const BUILTIN_COMMANDS: [string, string][] = [
  ['/usr/bin/dockerd', 'docker-flatcar'],
  ['/usr/bin/containerd', 'containerd-flatcar'],
];

/** Inventory → converted tree, enable declarations and report. Pure: the reader and stager do the I/O. */
export function planConversion(inventory: TorcxInventory, options: ConversionOptions): ConversionPlan {
  const { image, items } = inventory;
  checkTorcxManifest(image, items);

  const entries: PlannedEntry[] = [];
  const enabled: ConversionReport['enabled'] = [];
  const moved = new Map<string, { from: string; to: string; entries: number }>();
  const dropped = new Map<string, { path: string; entries: number; reason: string }>();
  const notCarried: string[] = [];

  for (const item of items) {
    const [top = '', ...rest] = item.path.split('/');
    const destination = rest.length > 0 ? MOVES[top] : undefined;
    if (destination === undefined) {
      const key = rest.length > 0 ? `${top}/` : top;
      const reason = top === '.torcx' ? TORCX_REASON : top === 'etc' ? ETC_REASON : OTHER_REASON;
      const entry = dropped.get(key) ?? { path: key, entries: 0, reason };
      entry.entries += 1;
      dropped.set(key, entry);
      if (top === 'etc') notCarried.push(`/${item.path}`);
      continue;
    }
    const to = `${destination}/${rest.join('/')}`;
    const move = moved.get(top) ?? { from: `${top}/`, to: `${destination}/`, entries: 0 };
    move.entries += 1;
    moved.set(top, move);

    const wants = WANTS_LINK.exec(to);
    if (wants) {
      enabled.push({ link: item.path, target: checkUnitName(image, item.path, wants[1] ?? ''), unit: checkUnitName(image, item.path, wants[2] ?? ''), shipped: false });
      continue;
    }
    entries.push({ from: item.path, to });
  }

  checkCollisions(image, entries);
  const rewritten: ConversionReport['rewritten'] = [];
  const unresolved: ConversionReport['unresolved'] = [];
  const byArchivePath = new Map(items.map((item) => [item.path, item]));
  for (const entry of entries) {
    const item = byArchivePath.get(entry.from);
    if (item?.type !== 'file' || item.text === undefined || !UNIT_FILE.test(entry.to)) continue;
    const rewrite = rewriteUnit(item.text);
    for (const line of rewrite.unresolved) unresolved.push({ path: entry.to, line });
    if (rewrite.text === item.text) continue;
    entry.text = rewrite.text;
    rewritten.push({ path: entry.to, changes: rewrite.changes });
  }

  entries.sort((a, b) => (a.to < b.to ? -1 : 1));
  const shipped = new Set(entries.map((entry) => entry.to));
  for (const link of enabled) link.shipped = shipped.has(`/usr/lib/systemd/system/${link.unit}`) || shipped.has(`/usr/lib/systemd/system/${templateOf(link.unit)}`);
  enabled.sort((a, b) => (a.link < b.link ? -1 : 1));

  const { arch, archFrom } = architecture(image, entries, byArchivePath, options.arch);
  return {
    name: options.name,
    version: options.version,
    arch,
    entries,
    enable: enabled.map(({ unit, target }) => ({ unit, target })),
    report: {
      archive: image.file,
      archFrom,
      moved: [...moved.values()].sort((a, b) => (a.from < b.from ? -1 : 1)),
      rewritten,
      enabled,
      dropped: [...dropped.values()].sort((a, b) => (a.path < b.path ? -1 : 1)),
      notCarried: notCarried.sort(),
      shadowing: entries.filter((entry) => FLATTENED_LIBRARY.test(entry.to)).map((entry) => entry.to),
      unresolved,
      builtins: BUILTIN_COMMANDS.filter(([command]) => shipped.has(command)).map(([, builtin]) => builtin),
    },
  };
}

/** Without .torcx/manifest.json this is some other tarball; converting it would guess at its layout. */
function checkTorcxManifest(image: TorcxImageName, items: readonly ArchiveItem[]): void {
  const manifest = items.find((item) => item.path === MANIFEST_PATH);
  if (manifest?.type !== 'file' || manifest.text === undefined)
    throw new TorcxError(`${image.file} has no ${MANIFEST_PATH}: it is not a Torcx image (torcx images carry their image manifest there)`);
  let kind: unknown;
  try {
    kind = (JSON.parse(manifest.text) as { kind?: unknown }).kind;
  } catch (error) {
    throw new TorcxError(`${image.file}: ${MANIFEST_PATH} is not valid JSON (${(error as Error).message})`);
  }
  if (kind !== MANIFEST_KIND) throw new TorcxError(`${image.file}: ${MANIFEST_PATH} has kind ${JSON.stringify(kind)}; only "${MANIFEST_KIND}" images are known`);
}

function checkUnitName(image: TorcxImageName, link: string, unit: string): string {
  if (!UNIT_NAME.test(unit)) throw new TorcxError(`${image.file}: ${link} does not name a systemd unit ("${unit}"); remove the link or fix its name`);
  return unit;
}

/** bin/ and usr/bin/ both land in /usr/bin: the same name in both is ambiguous, not something to pick silently. */
function checkCollisions(image: TorcxImageName, entries: readonly PlannedEntry[]): void {
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const other = seen.get(entry.to);
    if (other !== undefined)
      throw new TorcxError(`${image.file}: ${other} and ${entry.from} would both become ${entry.to}; remove one of them from the image and convert again`);
    seen.set(entry.to, entry.from);
  }
}

/** "foo@bar.service" is an instance of the template file "foo@.service". */
function templateOf(unit: string): string {
  return unit.replace(/@[^.]*\./, '@.');
}

function architecture(image: TorcxImageName, entries: readonly PlannedEntry[], items: ReadonlyMap<string, ArchiveItem>, requested: Arch | undefined): { arch: Arch; archFrom: string } {
  const found = new Map<Arch, string>();
  for (const entry of entries) {
    const elf = items.get(entry.from)?.elf;
    if (!elf) continue;
    if (!elf.arch)
      throw new TorcxError(`${image.file}: ${entry.from} is an ELF file for machine 0x${elf.machine.toString(16)}; Flatcar images hold x86-64 or arm64 binaries`);
    if (!found.has(elf.arch)) found.set(elf.arch, entry.from);
  }
  const arches = [...found.keys()];
  if (arches.length > 1)
    throw new TorcxError(`${image.file} mixes architectures: ${arches.map((arch) => `${found.get(arch)} is ${arch}`).join(', ')}; an image holds one`);
  const [elfArch] = arches;
  if (elfArch && requested && elfArch !== requested)
    throw new TorcxError(`${image.file}: --arch ${requested}, but ${found.get(elfArch)} is ${elfArch}; drop --arch or convert the ${requested} image`);
  if (elfArch) return { arch: elfArch, archFrom: `the ELF header of ${found.get(elfArch)}` };
  if (requested) return { arch: requested, archFrom: '--arch' };
  throw new TorcxError(`${image.file} holds no ELF binary to read its architecture from; pass --arch x86-64 or --arch arm64`);
}

