import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { collectBuiltImages, openSigner, publishTree, pushImage, verifyReleaseTree, PublishError, type ImageRequirements, type PublishExtension, type RegistryOptions } from '@bakehouse/publish';
import { readFlatcarRelease } from '@bakehouse/upstream';
import { findWorkspaceRoot, requireLock, selectExtensions } from '../workspace.js';
import { runPublishPayloads } from './publish-payloads.js';

export interface PublishFlags {
  /** Write the Flatcar payload layout (flatcar/BOARD/VERSION/, publish-payloads.ts) instead of the sysupdate tree. */
  payloads?: boolean;
  payloadKey?: string[];
  bzip2?: boolean;
  out?: string;
  baseUrl?: string;
  previous?: string;
  keep: string;
  keyId?: string;
  gnupgHome?: string;
  oci?: string;
  insecure?: boolean;
  catalog: boolean;
  verityCert?: string;
  /** Publish the images in FROM/NAME/ (bakehouse build --out FROM) instead of each extension's dist/. */
  from?: string;
  allowOverrides?: boolean;
  flatcarVersion?: string;
  requireTests?: boolean;
}

/** Publishes the images already built into each extension's dist/: never builds. */
export async function runPublish(names: string[], flags: PublishFlags): Promise<void> {
  if (!flags.out && !flags.oci) throw new PublishError('nothing to do: give --out DIR (release tree), --oci REGISTRY/REPOSITORY, or both');
  const root = await findWorkspaceRoot();
  const selected = await selectExtensions(root, names);
  const extensions: PublishExtension[] = [];
  for (const extension of selected) {
    const { manifest, dir } = extension;
    const distDir = flags.from ? path.join(path.resolve(flags.from), manifest.name) : path.join(dir, 'dist');
    // Without names, extensions that were never built are simply not published.
    if (names.length === 0 && !(await readdir(distDir).catch(() => [] as string[])).some((f) => f.endsWith('.json'))) continue;
    extensions.push({ manifest, lock: requireLock(extension), lockFile: extension.lockFile, distDir });
  }
  if (extensions.length === 0) throw new PublishError(`no extension has built images${flags.from ? ` in ${flags.from}` : ''}: run bakehouse build first`);
  // Release-pinned images must be built for the Flatcar release being published: --flatcar-version, else flatcar.json.
  const pinned = extensions.some((e) => e.manifest.release.id === 'flatcar' && e.manifest.release.compat === 'release');
  const requirements: ImageRequirements = {
    allowOverrides: flags.allowOverrides,
    requireTests: flags.requireTests,
    flatcarVersion: flags.flatcarVersion ?? (pinned ? (await readFlatcarRelease(root))?.version : undefined),
  };

  if (flags.payloads) return runPublishPayloads(extensions, requirements, { ...flags, payloadKey: flags.payloadKey ?? [] });

  if (flags.out) {
    if (!/^[1-9]\d*$/.test(flags.keep)) throw new PublishError(`--keep ${flags.keep}: give how many versions to keep per extension and line, a whole number from 1`);
    const keep = Number(flags.keep);
    const signer = await openSigner({ keyId: flags.keyId, gnupgHome: flags.gnupgHome });
    try {
      const result = await publishTree({ outDir: flags.out, extensions, signer, baseUrl: flags.baseUrl, previous: flags.previous, keep, catalog: flags.catalog, verityCertificate: flags.verityCert, ...requirements });
      const images = Object.values(result.index.extensions).reduce((n, e) => n + e.images.length, 0);
      process.stdout.write(`${flags.out}: ${images} image(s) of ${Object.keys(result.index.extensions).length} extension(s), signed by ${signer.fingerprint}\n`);
      for (const file of result.written) process.stdout.write(`  wrote   ${file}\n`);
      for (const file of result.removed) process.stdout.write(`  removed ${file}\n`);
      for (const image of Object.values(result.index.extensions).flatMap((e) => e.images).filter((i) => i.overrides))
        process.stdout.write(`  OVERRIDE ${image.path}: built from source overrides (${image.overrides!.join(', ')}), marked so in index.json and the catalog\n`);
      if (flags.previous && /^https?:/.test(flags.previous)) {
        process.stdout.write(`upload ${flags.out} over ${flags.previous}: new images first, then everything but index.json, then index.json, then delete what is pruned (packages/publish/README.md)\n`);
        for (const file of result.pruned) process.stdout.write(`  prune   ${file}\n`);
      }
    } finally {
      await signer.close();
    }
  }
  if (flags.oci) {
    const registry: RegistryOptions = { insecure: flags.insecure, username: process.env.BAKEHOUSE_REGISTRY_USER, password: process.env.BAKEHOUSE_REGISTRY_PASSWORD };
    for (const extension of extensions)
      for (const image of await collectBuiltImages(extension, requirements)) {
        const pushed = await pushImage(flags.oci, image.entry, image.file, registry, image.sbom);
        process.stdout.write(`${pushed.reference}:${pushed.tags.join(',')} ${pushed.digest}\n`);
        if (pushed.sbom) process.stdout.write(`  SBOM ${pushed.reference}@${pushed.sbom.digest} (referrer of ${pushed.digest})\n`);
      }
  }
}

export async function runVerifyRelease(dir: string, flags: { keyring?: string; requireTests?: boolean }): Promise<void> {
  const report = await verifyReleaseTree(dir, { keyring: flags.keyring, requireTests: flags.requireTests });
  process.stdout.write(`${dir}: ${report.signatures.length} signature(s) and ${report.images.length} image(s) verified\n`);
  for (const image of report.untested) process.stdout.write(`  untested ${image}: no boot test record (published without evidence that these bytes booted)\n`);
  for (const image of report.overrides) process.stdout.write(`  override ${image}: built from source overrides, not the lock's pins\n`);
}
