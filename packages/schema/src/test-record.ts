import { z } from 'zod';
import { ManifestError } from './errors.js';
import { Arch, Sha256, Version } from './manifest.js';

/** Beside the image it describes: NAME-VERSION-ARCH.test.json next to NAME-VERSION-ARCH.raw. */
export const TEST_RECORD_SUFFIX = '.test.json';

const TestedCheck = z
  .object({
    kind: z.enum(['unit', 'command']),
    name: z.string().describe('the unit, or the command line'),
    ok: z.boolean(),
    exitCode: z.number().int(),
    durationMs: z.number().nonnegative(),
  })
  .strict();

/**
 * The evidence of one boot test: which image bytes were booted (by sha256), on which testbed and
 * kernel, and what every smoke check returned. `pnpm release` writes it; publish copies it into
 * the tree beside the image and refuses an image whose record names other bytes or failed.
 */
export const TestRecord = z
  .object({
    testRecordVersion: z.literal(1),
    extension: z.string().min(1),
    version: Version,
    arch: Arch,
    image: z.object({ file: z.string().min(1), sha256: Sha256, bytes: z.number().int().nonnegative() }).strict(),
    ok: z.boolean(),
    testbed: z.enum(['nspawn', 'vm']).describe('nspawn: a container on the host kernel; vm: a virtual machine with its own kernel'),
    kernel: z.string().min(1).describe('the kernel the image ran on (uname -r)'),
    flatcarVersion: z.string().min(1).describe('VERSION_ID of the booted Flatcar-like root'),
    durationMs: z.number().nonnegative().describe('boot to power-off'),
    checks: z.array(TestedCheck),
    problem: z.string().optional().describe('why the run failed when no check could tell'),
  })
  .strict();
export type TestRecord = z.infer<typeof TestRecord>;

/** Parses a test record's text; errors name the file and the field. */
export function parseTestRecord(text: string, file: string): TestRecord {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(file, [{ field: '(file)', expected: `valid JSON (${(error as Error).message})` }]);
  }
  const result = TestRecord.safeParse(data);
  if (!result.success) throw ManifestError.fromZod(file, result.error);
  return result.data;
}
