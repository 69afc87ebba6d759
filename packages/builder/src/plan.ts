import path from 'node:path';
import { DEFAULT_SQUASHFS_COMPRESSION, type SquashfsCompression } from './image.js';
import { DEBIAN_ARCH } from './debian/arch.js';
import { imageVersion, type Arch, type ExtensionManifest, type ExtractRule, type ImageFormat, type Input, type LockedImage, type SourceOverrides, type UnitSections } from '@bakehouse/schema';

/** Upstream projects spell architectures differently; URL templates may use any of these. */
const ARCH_SPELLINGS: Record<Arch, { goarch: string; uname: string }> = {
  'x86-64': { goarch: 'amd64', uname: 'x86_64' },
  arm64: { goarch: 'arm64', uname: 'aarch64' },
};

export const SYSEXT_LEVEL = '1.0';

/** One download, fully resolved for one architecture. */
export interface PlannedInput {
  name: string;
  kind: Input['kind'];
  version: string;
  url: string;
  sha256: string;
  /** Where the pin came from: the lock, or a source override file (tests, air-gapped mirrors). */
  pinnedBy: 'lock' | 'override';
  extract: ExtractRule[];
}

/** A Debian package closure for one arch, relocated into `prefix`; only `export` leaves it. */
export interface PlannedClosure {
  prefix: string;
  export: { from: string; to: string }[];
  /** Empty directories made in the image, outside the prefix. */
  mountPoints: string[];
  /** `architecture` is Debian's (amd64, arm64 or all), as the lock has it. */
  debs: { name: string; version: string; architecture: string; url: string; sha256: string; pinnedBy: PlannedInput['pinnedBy'] }[];
}

export interface UpholdDropIn {
  target: string;
  unit: string;
  /** Image path of the drop-in, e.g. /usr/lib/systemd/system/multi-user.target.d/10-containerd-containerd.service.conf */
  path: string;
}

export interface BuildPlan {
  name: string;
  version: string;
  /** The minor line this image version belongs to, for extensions that declare lines. */
  line?: string;
  arch: Arch;
  format: ImageFormat;
  compression: SquashfsCompression;
  /** NAME-VERSION-ARCH: the file name (without .raw) under which the image is published. */
  imageName: string;
  extensionDir: string;
  filesDir: string;
  inputs: PlannedInput[];
  closure?: PlannedClosure;
  units: Record<string, UnitSections>;
  upholds: UpholdDropIn[];
  sysusers: string[];
  tmpfiles: string[];
  /** Ordered key/value pairs of usr/lib/extension-release.d/extension-release.NAME */
  extensionRelease: [string, string][];
  sourceDateEpoch: number;
  conflicts: ExtensionManifest['conflicts'];
  requires: ExtensionManifest['requires'];
}

export interface PlanOptions {
  extensionDir: string;
  arch: Arch;
  format?: ImageFormat;
  compression?: SquashfsCompression;
  /** Target Flatcar release; required by extensions with `release.compat: "release"`. */
  flatcarVersion?: string;
  sources?: SourceOverrides;
  /** Timestamp given to every file and to the image itself. */
  sourceDateEpoch?: number;
}

export class PlanError extends Error {
  override readonly name = 'PlanError';
}

/** Manifest + one locked image version → build plan for one architecture. Pure: no I/O. */
export function resolvePlan(manifest: ExtensionManifest, image: LockedImage, options: PlanOptions): BuildPlan {
  const { arch } = options;
  if (!manifest.arch.includes(arch))
    throw new PlanError(`${manifest.name} does not support ${arch}; "arch" lists ${manifest.arch.join(', ')}`);

  const version = imageVersion(image);
  const inputs = manifest.inputs.map((input) => planInput(manifest, image, input, arch, options.sources));
  const { closure } = planClosure(manifest, image, arch, options.sources);
  return {
    name: manifest.name,
    version,
    ...(image.line === undefined ? {} : { line: image.line }),
    arch,
    format: options.format ?? manifest.format,
    compression: options.compression ?? DEFAULT_SQUASHFS_COMPRESSION,
    imageName: `${manifest.name}-${version}-${arch}`,
    extensionDir: options.extensionDir,
    filesDir: path.resolve(options.extensionDir, manifest.files),
    inputs,
    ...(closure ? { closure } : {}),
    units: manifest.units,
    upholds: manifest.enable.map((entry) => planUphold(manifest.name, entry)),
    sysusers: manifest.sysusers,
    tmpfiles: manifest.tmpfiles,
    extensionRelease: [...extensionReleaseFields(manifest, version, arch, options.flatcarVersion), ...overrideMarker(inputs, closure)],
    sourceDateEpoch: options.sourceDateEpoch ?? 0,
    conflicts: manifest.conflicts,
    requires: manifest.requires,
  };
}

function planInput(manifest: ExtensionManifest, image: LockedImage, input: Input, arch: Arch, sources?: SourceOverrides): PlannedInput {
  const locked = image.inputs[input.name];
  if (!locked) throw new PlanError(`${manifest.name}: the lock pins no version of input "${input.name}"; run bakehouse bump ${manifest.name}`);
  const { version } = locked;
  const url = inputUrl(input, version, arch);
  // Archives such as Tailscale's keep everything under tailscale_VERSION_GOARCH/, so `from` takes the URL placeholders.
  const extract = input.extract.map((rule) => (rule.from === undefined ? rule : { ...rule, from: expandUrl(rule.from, version, arch) }));
  const override = sources?.[url];
  const sha256 = locked.sha256[arch];
  // An override that keeps the lock's pin only moves the download (a mirror): the bytes are the pinned ones.
  if (override && override.sha256 !== sha256) return { ...override, name: input.name, kind: input.kind, version, pinnedBy: 'override', extract };

  // parseLock guarantees a pin for every listed arch; this guards plans built from unchecked data.
  if (!sha256) throw new PlanError(`${manifest.name}: the lock pins no sha256 of input "${input.name}" for ${arch}`);
  return { name: input.name, kind: input.kind, version, url: override?.url ?? url, sha256, pinnedBy: 'lock', extract };
}

/** {triplet}: where a package keeps per-arch files it opens by a compiled-in path (lxcfs' library, liblxc's rootfs). */
function withTriplet(imagePath: string, arch: Arch): string {
  return imagePath.replaceAll('{triplet}', DEBIAN_ARCH[arch].triplet);
}

function planClosure(manifest: ExtensionManifest, image: LockedImage, arch: Arch, sources?: SourceOverrides): { closure?: PlannedClosure } {
  if (!manifest.debian) return {};
  const debs = image.debian?.[arch];
  if (!debs) throw new PlanError(`${manifest.name}: the lock holds no Debian closure for ${arch}; run bakehouse bump ${manifest.name}`);
  return {
    closure: {
      prefix: manifest.debian.prefix ?? `/usr/lib/bakehouse/${manifest.name}`,
      export: manifest.debian.export.map(({ from, to }) => ({ from: withTriplet(from, arch), to: withTriplet(to, arch) })),
      mountPoints: manifest.debian.mountPoints.map((dir) => withTriplet(dir, arch)),
      debs: debs.map((deb) => {
        const override = sources?.[deb.url];
        return { name: deb.package, version: deb.version, architecture: deb.architecture, url: override?.url ?? deb.url, sha256: override?.sha256 ?? deb.sha256, pinnedBy: override && override.sha256 !== deb.sha256 ? 'override' : 'lock' };
      }),
    },
  };
}

/**
 * extension-release key naming the inputs and Debian packages an image was built from through
 * source overrides, not the lock's pins. systemd ignores keys it does not know (os-release(5)
 * asks vendors to prefix their own), so hosts still load such an image, while `bakehouse inspect`,
 * publish and anyone reading the file can tell it from a release build.
 */
export const SOURCE_OVERRIDES_FIELD = 'BAKEHOUSE_SOURCE_OVERRIDES';

/** The inputs and Debian packages of a plan that come from source overrides, in plan order. */
export function overriddenNames(plan: Pick<BuildPlan, 'inputs' | 'closure'>): string[] {
  return [...plan.inputs, ...(plan.closure?.debs ?? [])].filter((i) => i.pinnedBy === 'override').map((i) => i.name);
}

function overrideMarker(inputs: PlannedInput[], closure: PlannedClosure | undefined): [string, string][] {
  const overridden = overriddenNames({ inputs, ...(closure ? { closure } : {}) });
  return overridden.length ? [[SOURCE_OVERRIDES_FIELD, overridden.join(' ')]] : [];
}

/** The download URL of an input at a version, for one arch. */
export function inputUrl(input: Input, version: string, arch: Arch): string {
  const template = typeof input.url === 'string' ? input.url : input.url[arch];
  if (!template) throw new PlanError(`input "${input.name}" has no URL for ${arch}`);
  return expandUrl(template, version, arch);
}

export function expandUrl(template: string, version: string, arch: Arch, extra: Record<string, string> = {}): string {
  const values: Record<string, string> = { version, arch, ...ARCH_SPELLINGS[arch], ...extra };
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new PlanError(`unknown placeholder ${whole} in URL template ${template}`);
    return value;
  });
}

const DEFAULT_TARGETS: Record<string, string> = {
  service: 'multi-user.target',
  socket: 'sockets.target',
  timer: 'timers.target',
  path: 'paths.target',
};

function planUphold(extension: string, entry: ExtensionManifest['enable'][number]): UpholdDropIn {
  const unit = typeof entry === 'string' ? entry : entry.unit;
  const suffix = unit.slice(unit.lastIndexOf('.') + 1);
  const target = (typeof entry === 'string' ? undefined : entry.target) ?? DEFAULT_TARGETS[suffix];
  if (!target) throw new PlanError(`${extension}: no default target upholds a .${suffix} unit; give { unit, target }`);
  return { target, unit, path: `/usr/lib/systemd/system/${target}.d/10-${extension}-${unit}.conf` };
}

function extensionReleaseFields(manifest: ExtensionManifest, version: string, arch: Arch, flatcarVersion?: string): [string, string][] {
  const { release } = manifest;
  const fields: [string, string][] = [['ID', release.id]];
  if (release.id === 'flatcar') {
    if (release.compat === 'level') fields.push(['SYSEXT_LEVEL', SYSEXT_LEVEL]);
    else {
      if (!flatcarVersion)
        throw new PlanError(
          `${manifest.name} is pinned to a Flatcar release (release.compat: "release"): set it in flatcar.json (bakehouse flatcar latest --write), or pass --flatcar-version / BAKEHOUSE_FLATCAR_VERSION`,
        );
      fields.push(['VERSION_ID', flatcarVersion]);
    }
  }
  fields.push(['ARCHITECTURE', arch]);
  if (release.reloadManager) fields.push(['EXTENSION_RELOAD_MANAGER', '1']);
  if (release.scope) fields.push(['SYSEXT_SCOPE', release.scope.join(' ')]);
  const placeholders: Record<string, string | undefined> = { version, flatcarVersion };
  for (const [key, value] of Object.entries(release.extra ?? {}))
    fields.push([
      key,
      value.replace(/\{(version|flatcarVersion)\}/g, (whole, name: string) => {
        const replacement = placeholders[name];
        if (replacement === undefined) throw new PlanError(`${manifest.name}: release.extra.${key} uses ${whole}, but no target Flatcar release is set`);
        return replacement;
      }),
    ]);
  return fields;
}
