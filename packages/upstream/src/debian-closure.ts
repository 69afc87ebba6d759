import { debianImageVersion, resolveClosure } from '@bakehouse/builder';
import type { ExtensionManifest, LockedImage } from '@bakehouse/schema';
import { BumpError } from './errors.js';

/**
 * Resolves the manifest's Debian closure for every arch with the real apt, against the suite as
 * it is today. The image is named after the `versionOf` package's version. The sha256 values
 * come from the archive's signed index; the build verifies every .deb against them.
 */
export async function lockDebianClosure(manifest: ExtensionManifest): Promise<Pick<LockedImage, 'version' | 'debian'>> {
  const closure = manifest.debian;
  if (!closure) throw new BumpError(`${manifest.name} declares no Debian closure`);
  const debian: NonNullable<LockedImage['debian']> = {};
  for (const arch of manifest.arch) debian[arch] = await resolveClosure(closure, arch);
  const primary = closure.versionOf ?? closure.packages[0]!;
  const first = manifest.arch[0]!;
  const deb = debian[first]?.find((d) => d.package === primary);
  if (!deb) throw new BumpError(`${manifest.name}: debian.versionOf names "${primary}", which is not in the ${first} closure`);
  return { version: debianImageVersion(deb.version), debian };
}
