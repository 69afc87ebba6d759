import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseSourceOverrides, type Arch, type ImageFormat, type SourceOverrides } from '@bakehouse/schema';
import { buildExtension, createProgress, defaultCacheDir, type BuiltImage, type SigningKey, type SquashfsCompression } from '@bakehouse/builder';
import { readFlatcarRelease } from '@bakehouse/upstream';
import { findWorkspaceRoot, requireLock, selectExtensions, WorkspaceError } from '../workspace.js';
import { printTable } from '../table.js';

export interface BuildFlags {
  arch: Arch | 'all';
  format?: ImageFormat;
  compression?: SquashfsCompression;
  mirror?: string;
  offline?: boolean;
  cacheDir?: string;
  sources?: string;
  flatcarVersion?: string;
  maxUnpackedSize?: string;
  signKey?: string;
  signCert?: string;
  signKeySource?: string;
  /** Output root: each extension's images go to OUT/NAME/ instead of its dist/. */
  out?: string;
  quiet?: boolean;
}

export async function runBuild(names: string[], flags: BuildFlags): Promise<void> {
  const root = await findWorkspaceRoot();
  const extensions = await selectExtensions(root, names);
  const sources = flags.sources ? await readSources(flags.sources) : undefined;
  // --flatcar-version (or its variable) overrides flatcar.json for one run; only release-pinned images read either.
  const pinned = extensions.some((e) => e.manifest.release.id === 'flatcar' && e.manifest.release.compat === 'release');
  const flatcarVersion = flags.flatcarVersion ?? (pinned ? (await readFlatcarRelease(root))?.version : undefined);
  const progress = createProgress({ quiet: flags.quiet });
  const built: BuiltImage[] = [];
  try {
    for (const extension of extensions) {
      const { manifest, dir } = extension;
      const arches = flags.arch === 'all' ? manifest.arch : [flags.arch];
      built.push(
        ...(await buildExtension(manifest, requireLock(extension), dir, {
          arches,
          ...(flags.out ? { distDir: path.join(path.resolve(flags.out), manifest.name) } : {}),
          format: flags.format,
          compression: flags.compression,
          flatcarVersion,
          sources,
          sourceDateEpoch: sourceDateEpoch(),
          maxUnpackedBytes: flags.maxUnpackedSize === undefined ? undefined : byteCount(flags.maxUnpackedSize),
          signing: signingKey(flags),
          fetch: { cacheDir: flags.cacheDir ?? defaultCacheDir(), mirror: flags.mirror, offline: !!flags.offline, progress },
        })),
      );
    }
  } finally {
    progress.stop();
  }
  printTable(
    ['image', 'bytes', 'sha256', 'time'],
    built.map((b) => [path.relative(root, b.imagePath), String(b.record.image.bytes), b.record.image.sha256, `${(b.durationMs / 1000).toFixed(2)}s`]),
  );
  for (const b of built.filter((b) => b.record.sourceOverrides))
    process.stderr.write(
      `${path.basename(b.imagePath)}: built from source overrides (${b.record.sourceOverrides!.join(', ')}), not the lock's pins; ` +
        'its extension-release says so, and bakehouse publish refuses it without --allow-overrides\n',
    );
}

/** SOURCE_DATE_EPOCH is the reproducible-builds convention; without it every timestamp is 0. */
function sourceDateEpoch(): number {
  const value = process.env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return 0;
  if (!/^\d+$/.test(value)) throw new WorkspaceError(`SOURCE_DATE_EPOCH must be a whole number of seconds, got "${value}"`);
  return Number(value);
}

/** Both halves or neither: a key without its certificate (or the reverse) is a mistake, not a plain build. */
function signingKey(flags: BuildFlags): SigningKey | undefined {
  if (flags.signKey === undefined && flags.signCert === undefined) return undefined;
  if (!flags.signKey || !flags.signCert)
    throw new WorkspaceError('signing needs both --sign-key (BAKEHOUSE_SIGN_KEY) and --sign-cert (BAKEHOUSE_SIGN_CERT)');
  return { key: flags.signKey, cert: flags.signCert, keySource: flags.signKeySource };
}

function byteCount(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) === 0)
    throw new WorkspaceError(`--max-unpacked-size (BAKEHOUSE_MAX_UNPACKED_SIZE) must be a positive whole number of bytes, got "${value}"`);
  return Number(value);
}

async function readSources(file: string): Promise<SourceOverrides> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new WorkspaceError(`--sources ${file}: ${(error as Error).message}`);
  }
  return parseSourceOverrides(data, file);
}
