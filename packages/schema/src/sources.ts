import { z } from 'zod';
import { ManifestError } from './errors.js';

const Replacement = z
  .object({
    url: z.string().regex(/^https?:\/\//, 'an http(s) URL'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 as 64 lowercase hex characters'),
  })
  .strict();

/**
 * A source override file: { "<upstream URL>": { url, sha256 } }. Whenever a build would
 * download the upstream URL, it downloads `url` instead and pins `sha256`. Keyed by the exact
 * upstream URL, so it is specific to a version and an arch. Only tests and air-gapped sites
 * that repackage upstream files opt into it.
 */
export const SourceOverrides = z.record(z.string().regex(/^https?:\/\//, 'an upstream http(s) URL as key'), Replacement);
export type SourceOverrides = z.infer<typeof SourceOverrides>;

export function parseSourceOverrides(data: unknown, file: string): SourceOverrides {
  const result = SourceOverrides.safeParse(data);
  if (!result.success) throw ManifestError.fromZod(file, result.error);
  return result.data;
}
