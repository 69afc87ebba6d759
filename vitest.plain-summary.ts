import type { RunnerTask, RunnerTestFile } from 'vitest';
import type { Reporter } from 'vitest/node';

/**
 * Ends the run with the plain "N passed, N failed" line that CI systems read. It hooks
 * onFinished, which runs after the default reporter's summary, so the line comes last.
 */
export default class PlainSummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = []): void {
    const counts = { pass: 0, fail: 0, skip: 0 };
    const visit = (task: RunnerTask): void => {
      if (task.type === 'suite') task.tasks.forEach(visit);
      else if (task.result?.state === 'pass') counts.pass++;
      else if (task.result?.state === 'fail') counts.fail++;
      else counts.skip++;
    };
    files.forEach(visit);
    process.stdout.write(`\n${counts.pass} passed, ${counts.fail} failed, ${counts.skip} skipped\n`);
  }
}
