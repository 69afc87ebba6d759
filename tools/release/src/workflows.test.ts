import { appendFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freshCheckout, REPO_ROOT } from '@bakehouse/fixtures';

const WORKFLOWS = ['pr.yml', 'release.yml'];

interface Step {
  id?: string;
  run?: string;
  uses?: string;
}
interface Workflow {
  on: Record<string, unknown>;
  env?: Record<string, string>;
  jobs: Record<string, { needs?: string | string[]; steps: Step[] }>;
}

const read = (file: string) => readFile(path.join(REPO_ROOT, '.github/workflows', file), 'utf8');
const workflow = async (file: string) => parse(await read(file)) as Workflow;

/** GitHub's own parser and schema: the errors a push of this file would show in the Actions tab. */
async function workflowErrors(name: string, content: string): Promise<string[]> {
  const result = parseWorkflow({ name, content }, new NoOperationTraceWriter());
  const errors = result.context.errors.getErrors().map((e) => e.message);
  if (errors.length === 0 && result.value) {
    const template = await convertWorkflowTemplate(result.context, result.value);
    errors.push(...(template.errors ?? []).map((e) => e.Message));
  }
  return errors;
}

describe('workflow files', () => {
  it.each(WORKFLOWS)('%s parses without errors under the Actions workflow schema', async (file) => {
    expect(await workflowErrors(file, await read(file))).toEqual([]);
  });

  it('the parser does report a broken workflow', async () => {
    const broken = (await read('pr.yml')).replace('runs-on: ubuntu-24.04', 'runs_on: ubuntu-24.04');
    expect((await workflowErrors('broken.yml', broken)).join('\n')).toMatch(/runs_on/);
  });

  it('every `pnpm X` they run is a root script or a workspace binary, every Turbo task exists, and .ci/run takes --install-only', async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const turbo = JSON.parse(await readFile(path.join(REPO_ROOT, 'turbo.json'), 'utf8')) as { tasks: Record<string, unknown> };
    const ciRun = await readFile(path.join(REPO_ROOT, '.ci/run'), 'utf8');
    const known = new Set([...Object.keys(pkg.scripts), 'exec', 'install', 'turbo']);
    for (const file of WORKFLOWS) {
      const runs = Object.values((await workflow(file)).jobs).flatMap((job) => job.steps.map((step) => step.run ?? ''));
      for (const run of runs) {
        for (const [, command] of run.matchAll(/\bpnpm (\S+)/g)) expect(known, `${file}: pnpm ${command}`).toContain(command);
        for (const [, task] of run.matchAll(/\bturbo (?:run )?((?:test:)?[a-z]+)\b/g)) if (task !== 'ls' && task !== 'run') expect(Object.keys(turbo.tasks), `${file}: turbo ${task}`).toContain(task);
        if (run.includes('.ci/run')) expect(ciRun).toContain('--install-only');
      }
    }
  });

  it('both use the remote cache settings when configured, and the jobs run in the issue\'s order', async () => {
    for (const file of WORKFLOWS) expect(Object.keys((await workflow(file)).env ?? {}), file).toEqual(expect.arrayContaining(['TURBO_API', 'TURBO_TEAM', 'TURBO_TOKEN']));
    const pr = await workflow('pr.yml');
    expect(Object.keys(pr.on)).toEqual(['pull_request']);
    expect([pr.jobs.test!.needs, pr.jobs.affected!.needs, pr.jobs.images!.needs]).toEqual(['lint', 'test', 'affected']);
    const release = await workflow('release.yml');
    expect(Object.keys(release.on).sort()).toEqual(['schedule', 'workflow_dispatch']);
    expect([release.jobs['boot-test']!.needs, release.jobs.release!.needs]).toEqual(['bump', 'boot-test']);
  });

  it('release.yml bumps once, and publishes only the images its boot tests booted', async () => {
    const { jobs } = await workflow('release.yml');
    const runs = (job: string) => jobs[job]!.steps.map((s) => s.run ?? '').join('\n');
    const artifacts = (job: string, action: string) => jobs[job]!.steps.filter((s) => s.uses?.startsWith(`actions/${action}-artifact@`)) as (Step & { with: Record<string, string> })[];
    // One bump, whose locks (and Flatcar releases) every later job takes instead of bumping again.
    expect(runs('bump')).toMatch(/pnpm release --bump-only --json .*> bump-report\.json/);
    const bumped = artifacts('bump', 'upload').find((a) => a.with.name === 'bumped')!;
    expect(bumped.with.path).toContain('extensions/*/extension.lock.json');
    for (const job of ['boot-test', 'release']) expect(artifacts(job, 'download').map((a) => a.with.name)).toContain('bumped');
    expect(runs('boot-test')).toMatch(/pnpm release --no-bump --flatcar-from bump-report\.json --no-publish --stage tested/);
    expect(runs('boot-test')).not.toMatch(/pnpm release (?!.*--no-bump)/);
    // The booted bytes travel to the release job, which neither bumps nor builds nor boots: it publishes the stage.
    expect(artifacts('boot-test', 'upload').map((a) => a.with.path)).toContain('tested/');
    expect(artifacts('release', 'download').find((a) => a.with.pattern === 'tested-*')?.with.path).toBe('tested');
    expect(runs('release')).toMatch(/pnpm release --from-stage tested/);
    expect(runs('release')).not.toMatch(/pnpm (release (?!--from-stage)|bakehouse (bump|build)|turbo)/);
  });
});

describe("the PR workflow's selection of affected extensions", () => {
  let checkout: string | undefined;
  afterAll(() => checkout && rm(checkout, { recursive: true, force: true }));

  /** Runs the workflow's own `select` step in a checkout whose branch holds `change`, and returns what it wrote to $GITHUB_OUTPUT. */
  async function select(change: (root: string) => Promise<void>): Promise<string[]> {
    const step = Object.values((await workflow('pr.yml')).jobs).flatMap((job) => job.steps).find((s) => s.id === 'select')!;
    const git = (...args: string[]) => execa('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], { cwd: checkout });
    await git('checkout', '-q', 'main');
    await git('checkout', '-q', '-B', 'pr');
    await change(checkout!);
    await git('commit', '-q', '-am', 'change');
    const output = path.join(checkout!, '.github-output');
    await writeFile(output, '');
    const result = await execa('bash', ['-e', '-c', step.run!], { cwd: checkout, env: { GITHUB_OUTPUT: output, TURBO_SCM_BASE: 'main', TURBO_TELEMETRY_DISABLED: '1' }, reject: false, all: true });
    expect(result.exitCode, result.all).toBe(0);
    return JSON.parse(/^extensions=(.*)$/m.exec(await readFile(output, 'utf8'))![1]!) as string[];
  }

  it('selects only the changed extension, and every extension when the builder changes', async () => {
    checkout = await freshCheckout(REPO_ROOT);
    expect(await select((root) => appendFile(path.join(root, 'extensions/containerd/files/usr/share/containerd/config.toml'), '\n# changed\n'))).toEqual(['containerd']);
    const every = (await readdir(path.join(checkout, 'extensions'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    expect(every).toEqual(expect.arrayContaining(['containerd', 'docker', 'kubernetes', 'oem-hyperv', 'oem-qemu', 'podman']));
    expect(await select((root) => appendFile(path.join(root, 'packages/builder/src/plan.ts'), '\n// changed\n'))).toEqual(every);
  }, 120_000);
});
