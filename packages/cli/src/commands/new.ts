import { access, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createProgress, defaultCacheDir, fetchDownload, listDebPaths } from '@bakehouse/builder';
import { ARCHES, imageVersion, LOCK_FILE, parseExtension, type Arch, type ArchiveKind, type ExtensionLock, type ExtensionManifest } from '@bakehouse/schema';
import { bump, upstreamContext } from '@bakehouse/upstream';
import { findWorkspaceRoot } from '../workspace.js';

export class ScaffoldError extends Error {
  override readonly name = 'ScaffoldError';
}

export interface NewFlags {
  from: 'url' | 'deb';
  url?: string;
  version?: string;
  github?: string;
  binary?: string;
  package: string[];
  suite: string;
  description?: string;
  homepage?: string;
  arch: string[];
  upstream: string[];
  cacheDir?: string;
  quiet?: boolean;
}

/**
 * `bakehouse new NAME`: a new extension package, locked and ready to build. The manifest is
 * worked out and its inputs pinned (as `bakehouse bump` does) before anything is written; the
 * package appears in extensions/ complete or not at all, with a changeset announcing it.
 */
export async function runNew(name: string, flags: NewFlags): Promise<void> {
  const root = await findWorkspaceRoot();
  const dir = path.join(root, 'extensions', name);
  const manifestFile = path.relative(root, path.join(dir, 'extension.ts'));
  if (await exists(dir)) throw new ScaffoldError(`${path.relative(root, dir)} already exists: pick another name, or edit that extension`);

  let source = manifestSource(name, flags);
  let manifest = parseExtension(source, manifestFile);
  const cacheDir = flags.cacheDir ?? defaultCacheDir();
  const progress = createProgress({ quiet: flags.quiet });
  let lock: ExtensionLock;
  try {
    const result = await bump({ manifest }, { ctx: upstreamContext(process.env, flags.upstream), to: flags.version, fetch: { cacheDir, progress }, lockFile: path.join(path.relative(root, dir), LOCK_FILE) });
    lock = result.lock;
    if (flags.from === 'deb') {
      // The closure is known now: what to export comes from the packages' own file lists, not from the extension's name.
      source = withProposedExports(source, await proposeExports(manifest, lock, { cacheDir, progress }));
      manifest = parseExtension(source, manifestFile);
    }
  } finally {
    progress.stop();
  }

  const changeset = await writeExtensionPackage(root, name, scaffoldFiles(manifest, source, lock), newChangeset(manifest, lock));
  process.stdout.write(
    `created ${path.relative(root, dir)} (${lock.images.map(imageVersion).join(', ')}) and ${path.relative(root, changeset)}\n` +
      `next: pnpm install && pnpm bakehouse lint && pnpm turbo build --filter ${name}\n`,
  );
}

/**
 * Writes extensions/NAME from `files` (path in the package → text), plus whatever `populate`
 * puts into the staging directory, then `.changeset/new-NAME.md`: the package appears complete
 * or not at all. Returns the changeset's path.
 */
export async function writeExtensionPackage(
  root: string,
  name: string,
  files: Record<string, string>,
  changesetText: string,
  populate?: (stagingDir: string) => Promise<void>,
): Promise<string> {
  const dir = path.join(root, 'extensions', name);
  await mkdir(path.dirname(dir), { recursive: true });
  const staging = await mkdtemp(path.join(path.dirname(dir), `.new-${name}-`));
  try {
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(staging, file)), { recursive: true });
      await writeFile(path.join(staging, file), text);
    }
    await populate?.(staging);
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  const changeset = path.join(root, '.changeset', `new-${name}.md`);
  try {
    await mkdir(path.dirname(changeset), { recursive: true });
    await writeFile(changeset, changesetText, { flag: 'wx' });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return changeset;
}

/** The manifest as plain data: what extension.ts will say, validated before anything is written. */
function manifestSource(name: string, flags: NewFlags): Record<string, unknown> {
  const arch = flags.arch.length > 0 ? flags.arch : [...ARCHES];
  const unknown = arch.filter((a) => !(ARCHES as readonly string[]).includes(a));
  if (unknown.length) throw new ScaffoldError(`--arch ${unknown.join(', ')}: expected ${ARCHES.join(' or ')}`);
  const common = { name, description: flags.description ?? `${name} as a systemd-sysext image for Flatcar Container Linux` };
  if (flags.from === 'deb') {
    const packages = flags.package.length > 0 ? flags.package : [name];
    return {
      ...common,
      homepage: flags.homepage ?? `https://packages.debian.org/${flags.suite}/${packages[0]}`,
      arch,
      // A stand-in until the closure is resolved: proposeExports() replaces it with what the packages ship.
      debian: { suite: flags.suite, packages, export: [{ from: `/usr/bin/${name}`, to: `/usr/bin/${name}` }] },
      release: { id: 'flatcar', compat: 'level' },
      smoke: { commands: [`${name} --version`] },
    };
  }
  if (flags.url === undefined)
    throw new ScaffoldError('--from url needs --url TEMPLATE: the download URL, with {version} and {goarch}/{uname}/{arch} where upstream spells them (e.g. https://example.org/v{version}/NAME-linux-{goarch}.tar.gz)');
  if (flags.github === undefined && flags.version === undefined)
    throw new ScaffoldError('give --version VERSION (the upstream version to pin), or --github OWNER/REPO so bump finds the newest release');
  const kind = kindOf(flags.url);
  return {
    ...common,
    homepage: flags.homepage ?? (flags.github ? `https://github.com/${flags.github}` : new URL(flags.url).origin),
    ...(flags.github ? { upstream: { type: 'github-releases', repo: flags.github } } : {}),
    arch,
    inputs: [
      {
        name,
        kind,
        url: flags.url,
        checksum: { from: 'download' },
        extract: [kind === 'file' ? { to: `/usr/bin/${name}`, mode: 0o755 } : { from: flags.binary ?? name, to: `/usr/bin/${name}`, mode: 0o755 }],
      },
    ],
    release: { id: 'flatcar', compat: 'level' },
    smoke: { commands: [`${name} --version`] },
  };
}

const COMMAND_PATH = /^\/(?:usr\/)?(s?bin)\/[^/]+$/;
const UNIT_PATH = /^\/(?:usr\/)?lib\/systemd\/system\/([^/]+\.(?:service|socket|timer|path))$/;

/**
 * What the named packages themselves install as commands (/usr/bin, /usr/sbin) and systemd units:
 * the exports a new Debian extension starts with, read from the .debs the lock pins (first arch).
 * Commands keep their directory, so the packages' own units find them where they say.
 */
async function proposeExports(manifest: ExtensionManifest, lock: ExtensionLock, fetch: { cacheDir: string; progress: ReturnType<typeof createProgress> }): Promise<{ from: string; to: string }[]> {
  const packages = manifest.debian!.packages;
  const arch = manifest.arch[0]!;
  const debs = (lock.images[0]?.debian?.[arch] ?? []).filter((deb) => packages.includes(deb.package));
  const exports = new Map<string, string>();
  for (const deb of debs) {
    const file = await fetchDownload({ name: deb.package, url: deb.url, sha256: deb.sha256 }, fetch);
    for (const entry of await listDebPaths(file)) {
      const command = COMMAND_PATH.exec(entry.path);
      const unit = UNIT_PATH.exec(entry.path);
      if (command && (entry.type === 'symlink' || (entry.type === 'file' && entry.mode & 0o111))) exports.set(`/usr/${command[1]}/${path.posix.basename(entry.path)}`, entry.path);
      else if (unit && entry.type !== 'dir') exports.set(`/usr/lib/systemd/system/${unit[1]}`, entry.path);
    }
  }
  if (exports.size === 0)
    throw new ScaffoldError(`${packages.join(', ')} install${packages.length === 1 ? 's' : ''} no command in /usr/bin or /usr/sbin and no systemd unit: name the package that does with --package, or write debian.export by hand after scaffolding`);
  return [...exports].sort(([a], [b]) => (a < b ? -1 : 1)).map(([to, from]) => ({ from, to }));
}

/** The manifest with the proposed exports, and a smoke check that runs the first command. */
function withProposedExports(source: Record<string, unknown>, exports: { from: string; to: string }[]): Record<string, unknown> {
  const debian = source.debian as Record<string, unknown>;
  const command = exports.find((e) => COMMAND_PATH.test(e.to));
  const units = exports.filter((e) => UNIT_PATH.test(e.to)).map((e) => path.posix.basename(e.to));
  return {
    ...source,
    debian: { ...debian, export: exports },
    smoke: { commands: command ? [`${path.posix.basename(command.to)} --version`] : units.map((unit) => `systemctl cat ${unit}`) },
  };
}

function kindOf(url: string): ArchiveKind {
  const file = new URL(url.replaceAll(/[{}]/g, '')).pathname;
  if (/\.(tar\.gz|tgz)$/.test(file)) return 'tar.gz';
  if (file.endsWith('.tar.xz')) return 'tar.xz';
  if (file.endsWith('.tar.zst')) return 'tar.zst';
  if (file.endsWith('.tar')) return 'tar';
  if (file.endsWith('.zip')) return 'zip';
  return 'file';
}

/** Every file of the new package, relative to its directory. */
function scaffoldFiles(manifest: ExtensionManifest, source: Record<string, unknown>, lock: ExtensionLock): Record<string, string> {
  const { name } = manifest;
  return {
    ...packageFiles(manifest),
    'extension.ts': extensionSource(source),
    [LOCK_FILE]: `${JSON.stringify(lock, null, 2)}\n`,
    [`files/usr/share/doc/${name}/README.sysext`]: `${name} is installed by the ${name} systemd-sysext image, built by Bakehouse.\nUpstream: ${manifest.homepage}\n`,
    'README.md': readme(manifest, lock),
  };
}

/** package.json and tsconfig.json of an extension package: built, boot-tested and typechecked like every other. */
export function packageFiles(manifest: ExtensionManifest): Record<string, string> {
  return {
    'package.json': `${JSON.stringify(
      {
        name: manifest.name,
        version: '0.0.0',
        private: true,
        description: manifest.description,
        type: 'module',
        scripts: { build: 'bakehouse build', 'test:boot': 'bakehouse test', 'test:vm': 'bakehouse test --vm', typecheck: 'tsc -p tsconfig.json' },
        devDependencies: { '@bakehouse/cli': 'workspace:*', '@bakehouse/schema': 'workspace:*' },
      },
      null,
      2,
    )}\n`,
    'tsconfig.json': `${JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { noEmit: true }, include: ['extension.ts'] }, null, 2)}\n`,
  };
}

function extensionSource(source: Record<string, unknown>): string {
  const comment = source.debian
    ? '// The Debian closure is resolved for every arch and pinned in extension.lock.json by `bakehouse bump`;\n// `export` links the commands operators call from the private prefix into /usr/bin.\n'
    : '// `extract` maps files from the download into the image: adjust `from` to the archive\'s layout.\n// Add `units` and `enable` for a daemon, and `checksum: { from: \'file\', url: \'{url}.sha256\' }` when upstream publishes one.\n';
  return manifestModule(source, comment);
}

/** extension.ts: the manifest data as a `defineExtension` call, below `comment` (`//` lines). */
export function manifestModule(source: Record<string, unknown>, comment: string): string {
  return `import { defineExtension } from '@bakehouse/schema';\n\n${comment}export default defineExtension(${typescriptLiteral(source, '')});\n`;
}

/** A value as a TypeScript literal in the repository's style: single quotes, bare keys, file modes in octal. */
function typescriptLiteral(value: unknown, indent: string, key?: string): string {
  const inner = `${indent}  `;
  if (typeof value === 'string') return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  if (typeof value === 'number') return key === 'mode' ? `0o${value.toString(8)}` : String(value);
  if (Array.isArray(value)) {
    const items = value.map((item) => typescriptLiteral(item, inner));
    const flat = `[${items.join(', ')}]`;
    if (flat.length <= 100 && !flat.includes('\n')) return flat;
    return `[\n${items.map((item) => `${inner}${item},\n`).join('')}${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : `'${k}'`}: ${typescriptLiteral(v, inner, k)}`);
    const flat = `{ ${entries.join(', ')} }`;
    if (flat.length <= 100 && !flat.includes('\n')) return flat;
    return `{\n${entries.map((entry) => `${inner}${entry},\n`).join('')}${indent}}`;
  }
  return String(value);
}

function readme(manifest: ExtensionManifest, lock: ExtensionLock): string {
  const { name } = manifest;
  const version = imageVersion(lock.images[0]!);
  const arch: Arch = manifest.arch[0]!;
  const image = `${name}-${version}-${arch}.raw`;
  return `# ${name}

${manifest.description}. Upstream: ${manifest.homepage}

${shippedPaths(manifest).map((p) => `- \`${p}\``).join('\n')}
- \`SYSEXT_LEVEL=1.0\`: static or self-contained, so the image survives Flatcar updates.
- Smoke check after boot: ${manifest.smoke.commands.map((c) => `\`${c}\``).join(', ')}.

Build: \`pnpm turbo build --filter ${name}\` → \`extensions/${name}/dist/${image}\`.
New upstream version: \`pnpm bakehouse bump ${name}\`${manifest.upstream ? '' : ' --to VERSION'}; a packaging-only change:
\`pnpm bakehouse bump ${name} --revision -m "what changed"\`.

${butaneSection(name, image)}`;
}

/** The commands and units the README names: Debian exports, or the inputs' extract targets. */
function shippedPaths(manifest: ExtensionManifest): string[] {
  if (manifest.debian) return manifest.debian.export.map((e) => e.to);
  return manifest.inputs.flatMap((input) => input.extract.map((rule) => rule.to));
}

/** The README section that installs `image` with Butane. */
export function butaneSection(name: string, image: string): string {
  return `## Install with Butane

Serve the image (\`bakehouse publish\` writes it with \`SHA256SUMS\`), then:

\`\`\`yaml
variant: flatcar
version: 1.0.0
storage:
  files:
    - path: /opt/extensions/${name}/${image}
      mode: 0644
      contents:
        source: https://sysext.example.org/${name}/${image}
        verification:
          hash: sha256-<the image's sha256, from SHA256SUMS>
  links:
    - path: /etc/extensions/${name}.raw
      target: /opt/extensions/${name}/${image}
      hard: false
\`\`\`
`;
}

/** `.changeset/new-NAME.md`: a minor release announcing the new extension and its image versions. */
export function newChangeset(manifest: ExtensionManifest, lock: ExtensionLock): string {
  return `---\n"${manifest.name}": minor\n---\n\nNew extension: ${manifest.description} (${lock.images.map(imageVersion).join(', ')}).\n`;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
