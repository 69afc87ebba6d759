import type { BootResult } from '@bakehouse/testbed';
import { TEST_RECORD_SUFFIX, type TestRecord } from '@bakehouse/schema';
import type { BuiltImage } from './images.js';

/** Where and on what the images were booted. */
export interface Testbed {
  /** nspawn: a container on the host's kernel (the only testbed `pnpm release` runs today); vm: a VM with its own kernel. */
  kind: TestRecord['testbed'];
  /** `uname -r` of the kernel the images ran on. */
  kernel: string;
  /** VERSION_ID of the booted Flatcar-like root. */
  flatcarVersion: string;
}

/**
 * The evidence of one boot test, kept beside the image (NAME-VERSION-ARCH.test.json) and
 * published with it: the bytes booted (sha256), the testbed, and each check with its duration.
 * Pure: the same result gives the same record.
 */
export function testRecord(extension: string, image: BuiltImage, result: BootResult, testbed: Testbed): TestRecord {
  return {
    testRecordVersion: 1,
    extension,
    version: image.version,
    arch: image.arch as TestRecord['arch'],
    image: { file: image.file, sha256: image.sha256, bytes: image.bytes },
    ok: result.ok,
    testbed: testbed.kind,
    kernel: testbed.kernel,
    flatcarVersion: testbed.flatcarVersion,
    durationMs: Math.round(result.durationMs),
    checks: result.checks.map(({ kind, name, ok, exitCode, durationMs }) => ({ kind, name, ok, exitCode, durationMs: Math.round(durationMs) })),
    ...(result.problem ? { problem: result.problem } : {}),
  };
}

/** NAME-VERSION-ARCH.raw → NAME-VERSION-ARCH.test.json, the name publish looks for beside the image. */
export function testRecordFile(image: { file: string }): string {
  return image.file.replace(/\.raw$/, TEST_RECORD_SUFFIX);
}
