import { describe, expect, it } from 'vitest';
import { runRelease, type ExtensionInfo, type ReleaseSteps } from './pipeline.js';
import { parsePolicy } from './policy.js';

/** Only the policy check and the bump run (--bump-only, Flatcar given): nothing else is reached. */
async function bumpOnly(policyText: string, info: ExtensionInfo) {
  const bumped: string[] = [];
  const unreachable = () => Promise.reject(new Error('not reached with --bump-only'));
  const steps: ReleaseSteps = {
    resolveFlatcar: unreachable,
    listExtensions: async () => [info],
    bump: async (name) => {
      bumped.push(name);
      return { ok: true, output: `${name}: up to date` };
    },
    build: unreachable,
    bootArch: () => 'x86-64',
    bootTest: unreachable,
    publish: unreachable,
  };
  const report = await runRelease(
    { root: '/nonexistent', policy: parsePolicy(policyText, 'release.yaml'), bumpOnly: true, flatcar: { stable: '4230.2.1' }, readIndex: async () => undefined, log: () => {} },
    steps,
  );
  return { report, bumped };
}

const POLICY = 'flatcar: { channels: [stable] }\npublish: { out: out }\nextensions:\n  kubernetes: {}\n';
const KUBERNETES: ExtensionInfo = { name: 'kubernetes', versions: ['1.36.3', '1.35.7'], compat: 'level', arch: ['x86-64', 'arm64'], lines: ['1.36', '1.35'] };

describe("release.yaml and lines that follow upstream's schedule", () => {
  it('a manifest with a lineSource is released without release.yaml listing its lines, which each bump may change', async () => {
    const { report, bumped } = await bumpOnly(POLICY, { ...KUBERNETES, lineSource: 'kubernetes-schedule' });
    expect(report.outcomes.map((o) => [o.extension, o.status])).toEqual([['kubernetes', 'bumped']]);
    expect(bumped).toEqual(['kubernetes']);
  });

  it('hand-listed lines must still be listed in release.yaml', async () => {
    const { report, bumped } = await bumpOnly(POLICY, KUBERNETES);
    expect(report.outcomes).toMatchObject([{ extension: 'kubernetes', status: 'failed', step: 'policy', detail: expect.stringContaining('list them in release.yaml too') }]);
    expect(bumped).toEqual([]);
  });
});
