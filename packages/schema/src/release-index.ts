import { z } from 'zod';
import { ManifestError } from './errors.js';
import { Arch, EXTENSION_CATEGORIES, IMAGE_FORMATS, Sha256, Version } from './manifest.js';

/** The file name of the machine-readable catalog at the root of a published release tree. */
export const RELEASE_INDEX_FILE = 'index.json';

const Compatibility = z.union([
  z.object({ id: z.string().min(1), sysextLevel: z.string().min(1) }).strict(),
  z.object({ id: z.string().min(1), versionId: z.string().min(1) }).strict(),
  z.object({ id: z.literal('_any') }).strict(),
]);

const Conflicts = z
  .object({
    extensions: z.array(z.string()),
    builtins: z.array(z.string()).describe('Flatcar built-in images to mask with a /dev/null link, e.g. docker-flatcar'),
  })
  .strict();

/** One published image. `path` is relative to the tree root: EXT/EXT-VERSION-ARCH.raw. */
const IndexImage = z
  .object({
    extension: z.string().min(1),
    version: Version,
    line: z.string().optional(),
    endOfLife: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/)
      .optional()
      .describe("the date its line reached upstream's end of life (YYYY-MM-DD): the line is no longer built, and hosts on it get no more updates"),
    arch: Arch,
    format: z.enum([...IMAGE_FORMATS, 'ddi']),
    path: z.string().min(1),
    sha256: Sha256,
    bytes: z.number().int().nonnegative(),
    compatibility: Compatibility,
    requires: z.array(z.string()),
    conflicts: Conflicts,
    verity: z
      .object({
        rootHash: z.string().regex(/^[0-9a-f]{64,128}$/, 'the dm-verity root hash in lowercase hex'),
        certificateSha256: Sha256.describe('sha256 of the DER certificate that verifies the signature; one of verityCertificates'),
      })
      .strict()
      .optional()
      .describe('signed DDIs (format "ddi") only'),
    overrides: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('inputs and Debian packages this image was built from through source overrides instead of the lock\'s pins; only published with publish --allow-overrides'),
    test: z
      .object({
        path: z.string().min(1).describe('tree-relative path of the boot test record, EXT/EXT-VERSION-ARCH.test.json'),
        sha256: Sha256.describe('sha256 of that file; the global SHA256SUMS lists it too'),
        testbed: z.enum(['nspawn', 'vm']),
      })
      .strict()
      .optional()
      .describe('the passing boot test of exactly these image bytes; absent for images published without one'),
    sbom: z
      .object({
        path: z.string().min(1).describe('tree-relative path of the SPDX 2.3 SBOM, EXT/EXT-VERSION-ARCH.spdx.json'),
        sha256: Sha256.describe('sha256 of that file; the global SHA256SUMS lists it too'),
      })
      .strict()
      .optional()
      .describe("the image's SPDX 2.3 JSON SBOM as its build wrote it: its inputs, Debian packages and their licenses"),
  })
  .strict();

/** A certificate that verifies signed DDIs; hosts trust it from /etc/verity.d/. `path` is relative to the tree root. */
const IndexVerityCertificate = z
  .object({
    path: z.string().min(1),
    sha256: Sha256.describe('sha256 of the PEM file, what Ignition verifies on download'),
    certificateSha256: Sha256.describe('sha256 of the DER certificate (its SHA-256 fingerprint), what build records and images name'),
  })
  .strict();

/** A generated text file offered to operators; `path` is relative to the tree root. */
const IndexSnippet = z
  .object({
    kind: z.enum(['butane', 'ignition', 'sysupdate-transfer', 'sysupdate-conf']),
    path: z.string().min(1),
    arch: Arch.optional(),
    line: z.string().optional(),
  })
  .strict();

const IndexExtension = z
  .object({
    description: z.string(),
    category: z.enum(EXTENSION_CATEGORIES).optional(),
    homepage: z.string().optional(),
    lines: z.array(z.string()).optional(),
    requires: z.array(z.string()),
    conflicts: Conflicts,
    images: z.array(IndexImage),
    snippets: z.array(IndexSnippet),
  })
  .strict();

/**
 * index.json: everything a release tree holds, written by publishing and read by the catalog,
 * by the next incremental publish and by operators' tooling. Holds no timestamps, so publishing
 * the same images twice writes the same bytes.
 */
export const ReleaseIndex = z
  .object({
    indexVersion: z.literal(1),
    baseUrl: z.string().optional(),
    publicKeys: z.array(z.string()).describe('tree-relative paths of the signing key(s), e.g. bakehouse.pub.asc'),
    verityCertificates: z.array(IndexVerityCertificate).optional().describe('certificates of the signed DDIs the tree holds; absent when it holds none'),
    extensions: z.record(z.string(), IndexExtension),
  })
  .strict();

export type ReleaseIndex = z.infer<typeof ReleaseIndex>;
export type ReleaseIndexImage = z.infer<typeof IndexImage>;
export type ReleaseIndexSnippet = z.infer<typeof IndexSnippet>;
export type ReleaseIndexVerityCertificate = z.infer<typeof IndexVerityCertificate>;

/** Parses index.json text; errors name the file and the field. */
export function parseReleaseIndex(text: string, file: string): ReleaseIndex {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(file, [{ field: '(file)', expected: `valid JSON (${(error as Error).message})` }]);
  }
  const result = ReleaseIndex.safeParse(data);
  if (!result.success) throw ManifestError.fromZod(file, result.error);
  return result.data;
}
