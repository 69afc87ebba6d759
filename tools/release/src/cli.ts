#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { loadPolicy, POLICY_FILE } from './policy.js';
import { renderReport, runRelease } from './pipeline.js';
import { StageError } from './images.js';
import { readTreeIndex, workspaceSteps } from './steps.js';

const program = new Command('release')
  .description('the scheduled release: resolve Flatcar, bump, build, boot-test and publish what changed, write release notes (policy: release.yaml)')
  .option('--policy <file>', 'release policy', POLICY_FILE)
  .option('--dry-run', 'print the plan: what would be bumped, built, tested and published; change nothing')
  .option('--no-boot-tests', 'skip the boot tests (hosts without systemd-nspawn)')
  .option('--no-publish', 'build and boot-test only: no publishing, no notes (e.g. a runner of the other arch)')
  .option('--only <name>', 'release only this extension of the policy (repeatable)', (value: string, previous: string[]) => [...previous, value], [] as string[])
  .option('--notes <file>', 'where the release notes go (default: PUBLISH_OUT/RELEASE-NOTES.md)')
  .option('--no-bump', 'use the locks as they are (bumped by an earlier job)')
  .option('--bump-only', 'resolve Flatcar and bump, then stop (the first job of release.yml)')
  .option('--flatcar-from <file>', "each channel's Flatcar release from an earlier run's --json report, instead of the release servers")
  .option('--stage <dir>', 'keep the tested images, their build and test records in DIR/CHANNEL/NAME/ (default: a temporary directory)')
  .option('--from-stage <dir>', 'publish what a run with --stage DIR built and boot-tested: no bump, build or boot test; every image needs a passing test record')
  .option('--json', 'print the report as JSON')
  .action(async (flags: ReleaseFlags) => {
    const root = process.cwd();
    const policy = await loadPolicy(path.resolve(root, flags.policy));
    const flatcar = flags.flatcarFrom ? await readFlatcarFrom(path.resolve(root, flags.flatcarFrom)) : undefined;
    const report = await runRelease(
      {
        root,
        policy,
        dryRun: flags.dryRun,
        bootTests: flags.bootTests,
        publish: flags.publish,
        only: flags.only,
        notesFile: flags.notes,
        bump: flags.bump,
        bumpOnly: flags.bumpOnly,
        flatcar,
        stageDir: flags.stage && path.resolve(root, flags.stage),
        fromStage: flags.fromStage && path.resolve(root, flags.fromStage),
        readIndex: readTreeIndex,
        log: (line) => process.stderr.write(`${line}\n`),
      },
      workspaceSteps(root),
    );
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report, flags.dryRun));
    if (!report.ok) process.exitCode = 1;
  });

/** The `flatcar` map of an earlier run's --json report: { CHANNEL: VERSION }. */
async function readFlatcarFrom(file: string): Promise<Record<string, string>> {
  try {
    const { flatcar } = JSON.parse(await readFile(file, 'utf8')) as { flatcar?: unknown };
    if (flatcar && typeof flatcar === 'object' && Object.values(flatcar).every((v) => typeof v === 'string')) return flatcar as Record<string, string>;
  } catch (error) {
    throw new StageError(`--flatcar-from ${file}: ${(error as Error).message}`);
  }
  throw new StageError(`--flatcar-from ${file}: no "flatcar": { CHANNEL: VERSION } in it; give the --json report of a pnpm release --bump-only run`);
}

interface ReleaseFlags {
  policy: string;
  dryRun?: boolean;
  bootTests: boolean;
  publish: boolean;
  bump: boolean;
  bumpOnly?: boolean;
  flatcarFrom?: string;
  stage?: string;
  fromStage?: string;
  only: string[];
  notes?: string;
  json?: boolean;
}

program.parseAsync(process.argv).catch((error: Error) => {
  process.stderr.write(`release: ${error.name === 'PolicyError' || error.name === 'StageError' ? error.message : (error.stack ?? String(error))}\n`);
  process.exitCode = 1;
});
