import { readFile } from 'node:fs/promises';
import { ARCHES, ManifestError, type FieldProblem } from '@bakehouse/schema';
import { FLATCAR_BOARDS, FLATCAR_CHANNELS } from '@bakehouse/upstream';
import { parse } from 'yaml';
import { z } from 'zod';

export const POLICY_FILE = 'release.yaml';

/** A release.yaml that does not validate: the file, and every field at fault with what it should be. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(
    readonly file: string,
    readonly problems: FieldProblem[],
  ) {
    super(`${file}: invalid release policy\n${problems.map((p) => `  - ${p.field}: expected ${p.expected}`).join('\n')}`);
  }
}

const Arch = z.enum(ARCHES);
const Channel = z.enum(FLATCAR_CHANNELS);

const ExtensionPolicy = z
  .object({
    track: z.enum(['latest', 'pinned']).optional().describe('latest: `bakehouse bump` each run; pinned: released as locked, moved only by a pull request'),
    lines: z.array(z.string().regex(/^\d+\.\d+$/, 'a MAJOR.MINOR line such as "1.35"')).min(1).optional().describe("the lines released; must be the manifest's `lines`"),
    arch: z.array(Arch).min(1).optional(),
    channels: z.array(Channel).min(1).optional().describe('Flatcar channels whose release tree carries this extension'),
  })
  .strict();

/** release.yaml: what the scheduled release builds, tests and publishes, and where. */
export const ReleasePolicy = z
  .object({
    flatcar: z
      .object({
        board: z.enum(FLATCAR_BOARDS).default('amd64-usr'),
        channels: z.array(Channel).min(1).describe("each channel gets its own release tree; release-pinned images are built for its current release"),
      })
      .strict(),
    publish: z
      .object({
        out: z.string().min(1).describe('directory holding one release tree per channel: OUT/CHANNEL'),
        baseUrl: z.string().regex(/^https?:\/\//, 'the http(s) URL the trees are served from; CHANNEL is appended').optional(),
        previous: z
          .string()
          .regex(/^https?:\/\//, 'the http(s) URL of the live trees; CHANNEL is appended')
          .optional()
          .describe('where the published trees live, when `out` starts empty (CI): compared against and merged with, and `out` receives only what to upload'),
        keep: z.number().int().positive().optional(),
      })
      .strict(),
    defaults: z
      .object({
        track: z.enum(['latest', 'pinned']).default('latest'),
        arch: z.array(Arch).min(1).default([...ARCHES]),
      })
      .strict()
      .prefault({}),
    extensions: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'an extension name'), ExtensionPolicy.nullable().transform((e) => e ?? {})),
  })
  .strict();
export type ReleasePolicy = z.output<typeof ReleasePolicy>;

/** One extension's release settings, defaults applied. */
export interface ExtensionRelease {
  name: string;
  track: 'latest' | 'pinned';
  lines?: string[];
  arch: z.output<typeof Arch>[];
  channels: z.output<typeof Channel>[];
}

export function extensionReleases(policy: ReleasePolicy): ExtensionRelease[] {
  return Object.entries(policy.extensions)
    .map(([name, e]) => ({
      name,
      track: e.track ?? policy.defaults.track,
      ...(e.lines ? { lines: e.lines } : {}),
      arch: e.arch ?? policy.defaults.arch,
      channels: e.channels ?? policy.flatcar.channels,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Parses release.yaml; errors name the file and field. */
export function parsePolicy(text: string, file: string): ReleasePolicy {
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    throw new PolicyError(file, [{ field: '(file)', expected: `valid YAML (${(error as Error).message})` }]);
  }
  const result = ReleasePolicy.safeParse(data);
  if (!result.success) throw new PolicyError(file, ManifestError.fromZod(file, result.error).problems);
  for (const [name, e] of Object.entries(result.data.extensions))
    for (const channel of e.channels ?? [])
      if (!result.data.flatcar.channels.includes(channel))
        throw new PolicyError(file, [{ field: `extensions.${name}.channels`, expected: `channels that flatcar.channels lists (${result.data.flatcar.channels.join(', ')}), got "${channel}"` }]);
  return result.data;
}

export async function loadPolicy(file: string): Promise<ReleasePolicy> {
  return parsePolicy(await readFile(file, 'utf8'), file);
}
