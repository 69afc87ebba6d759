#!/usr/bin/env node
import path from 'node:path';
import { Command } from 'commander';
import { loadPolicy, POLICY_FILE } from './policy.js';
import { renderReport, runRelease } from './pipeline.js';
import { readTreeIndex, workspaceSteps } from './steps.js';

const program = new Command('release')
  .description('the scheduled release: resolve Flatcar, bump, build, boot-test and publish what changed, write release notes (policy: release.yaml)')
  .option('--policy <file>', 'release policy', POLICY_FILE)
  .option('--dry-run', 'print the plan: what would be bumped, built, tested and published; change nothing')
  .option('--no-boot-tests', 'skip the boot tests (hosts without systemd-nspawn)')
  .option('--no-publish', 'build and boot-test only: no publishing, no notes (e.g. a runner of the other arch)')
  .option('--only <name>', 'release only this extension of the policy (repeatable)', (value: string, previous: string[]) => [...previous, value], [] as string[])
  .option('--notes <file>', 'where the release notes go (default: PUBLISH_OUT/RELEASE-NOTES.md)')
  .option('--json', 'print the report as JSON')
  .action(async (flags: { policy: string; dryRun?: boolean; bootTests: boolean; publish: boolean; only: string[]; notes?: string; json?: boolean }) => {
    const root = process.cwd();
    const policy = await loadPolicy(path.resolve(root, flags.policy));
    const report = await runRelease(
      { root, policy, dryRun: flags.dryRun, bootTests: flags.bootTests, publish: flags.publish, only: flags.only, notesFile: flags.notes, readIndex: readTreeIndex, log: (line) => process.stderr.write(`${line}\n`) },
      workspaceSteps(root),
    );
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report, flags.dryRun));
    if (!report.ok) process.exitCode = 1;
  });

program.parseAsync(process.argv).catch((error: Error) => {
  process.stderr.write(`release: ${error.name === 'PolicyError' ? error.message : (error.stack ?? String(error))}\n`);
  process.exitCode = 1;
});
