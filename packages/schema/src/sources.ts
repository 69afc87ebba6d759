import { z } from 'zod';
import { Arch } from './manifest.js';
import { ManifestError } from './errors.js';

const Pin = z
  .object({
    url: z.string().regex(/^https?:\/\//, 'an http(s) URL'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 as 64 lowercase hex characters'),
  })
  .strict();

/**
 * A source override file: { EXTENSION: { INPUT: { ARCH: { url, sha256 } } } }.
 * Replaces the manifest's URL and pin; only tests and air-gapped users opt into it.
 */
export const SourceOverrides = z.record(z.string(), z.record(z.string(), z.partialRecord(Arch, Pin)));
export type SourceOverrides = z.infer<typeof SourceOverrides>;

export function parseSourceOverrides(data: unknown, file: string): SourceOverrides {
  const result = SourceOverrides.safeParse(data);
  if (!result.success) throw ManifestError.fromZod(file, result.error);
  return result.data;
}
