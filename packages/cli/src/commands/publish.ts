import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { collectBuiltImages, openSigner, publishTree, pushImage, verifyReleaseTree, PublishError, type PublishExtension, type RegistryOptions } from '@bakehouse/publish';
import { findWorkspaceRoot, selectExtensions } from '../workspace.js';

export interface PublishFlags {
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
}

/** Publishes the images already built into each extension's dist/: never builds. */
export async function runPublish(names: string[], flags: PublishFlags): Promise<void> {
  if (!flags.out && !flags.oci) throw new PublishError('nothing to do: give --out DIR (release tree), --oci REGISTRY/REPOSITORY, or both');
  const root = await findWorkspaceRoot();
  const selected = await selectExtensions(root, names);
  const extensions: PublishExtension[] = [];
  for (const { manifest, dir } of selected) {
    const distDir = path.join(dir, 'dist');
    // Without names, extensions that were never built are simply not published.
    if (names.length === 0 && !(await readdir(distDir).catch(() => [] as string[])).some((f) => f.endsWith('.json'))) continue;
    extensions.push({ manifest, distDir });
  }
  if (extensions.length === 0) throw new PublishError('no extension has built images: run bakehouse build first');

  if (flags.out) {
    if (!/^[1-9]\d*$/.test(flags.keep)) throw new PublishError(`--keep ${flags.keep}: give how many versions to keep per extension and line, a whole number from 1`);
    const keep = Number(flags.keep);
    const signer = await openSigner({ keyId: flags.keyId, gnupgHome: flags.gnupgHome });
    try {
      const result = await publishTree({ outDir: flags.out, extensions, signer, baseUrl: flags.baseUrl, previous: flags.previous, keep, catalog: flags.catalog, verityCertificate: flags.verityCert });
      const images = Object.values(result.index.extensions).reduce((n, e) => n + e.images.length, 0);
      process.stdout.write(`${flags.out}: ${images} image(s) of ${Object.keys(result.index.extensions).length} extension(s), signed by ${signer.fingerprint}\n`);
      for (const file of result.written) process.stdout.write(`  wrote   ${file}\n`);
      for (const file of result.removed) process.stdout.write(`  removed ${file}\n`);
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
      for (const image of await collectBuiltImages(extension)) {
        const pushed = await pushImage(flags.oci, image.entry, image.file, registry);
        process.stdout.write(`${pushed.reference}:${pushed.tags.join(',')} ${pushed.digest}\n`);
      }
  }
}

export async function runVerifyRelease(dir: string, flags: { keyring?: string }): Promise<void> {
  const report = await verifyReleaseTree(dir, { keyring: flags.keyring });
  process.stdout.write(`${dir}: ${report.signatures.length} signature(s) and ${report.images.length} image(s) verified\n`);
}
