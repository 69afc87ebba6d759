import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseExtension } from '@bakehouse/schema';
import { lintTree } from './lint.js';
import { resolvePlan } from './plan.js';
import { listTree } from './tree.js';

const plan = resolvePlan(
  parseExtension(
    {
      name: 'demo',
      description: 'demo',
      homepage: 'https://example.org',
      inputs: [
        {
          name: 'su',
          kind: 'file',
          url: 'https://example.org/su',
          extract: [{ to: '/usr/bin/declared-suid', mode: 0o4755 }],
        },
      ],
    },
    'demo.ts',
  ),
  { version: '1.0', inputs: { su: { version: '1.0', sha256: { 'x86-64': 'a'.repeat(64), arm64: 'a'.repeat(64) }, checksum: 'computed' } } },
  { extensionDir: '/e', arch: 'x86-64' },
);

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'lint-test-'));
  await put('usr/lib/extension-release.d/extension-release.demo', 'ID=flatcar\n');
  await put('usr/bin/demo', '#!/bin/sh\n', 0o755);
});
afterEach(() => rm(root, { recursive: true, force: true }));

async function put(relative: string, content: string, mode = 0o644) {
  await mkdir(path.dirname(path.join(root, relative)), { recursive: true });
  await writeFile(path.join(root, relative), content);
  await chmod(path.join(root, relative), mode);
}

async function lint() {
  return lintTree(plan, root, await listTree(root));
}

describe('lintTree', () => {
  it('accepts a clean tree', async () => {
    await put('usr/lib/systemd/system/demo.service', '[Service]\nExecStart=/usr/bin/demo --serve\n');
    expect(await lint()).toEqual([]);
  });

  it('flags content outside /usr and /opt', async () => {
    await put('etc/demo.conf', 'x');
    expect(await lint()).toContainEqual(expect.objectContaining({ rule: 'outside-usr-opt', path: '/etc' }));
  });

  it('flags a missing or foreign extension-release', async () => {
    await rm(path.join(root, 'usr/lib/extension-release.d/extension-release.demo'));
    await put('usr/lib/extension-release.d/extension-release.other', 'ID=flatcar\n');
    const rules = (await lint()).map((p) => [p.rule, p.path]);
    expect(rules).toEqual([
      ['extension-release', '/usr/lib/extension-release.d/extension-release.demo'],
      ['extension-release', '/usr/lib/extension-release.d/extension-release.other'],
    ]);
  });

  it('flags an ExecStart binary the image lacks, following symlinks and prefixes', async () => {
    await put('usr/lib/systemd/system/demo.service', '[Service]\nExecStart=-/usr/bin/missing --flag\n');
    await put('usr/lib/systemd/system/demo.service.d/10-x.conf', '[Service]\nExecStart=\nExecStart=/usr/bin/linked\n');
    await symlink('demo', path.join(root, 'usr/bin/linked'));
    // systemd's own tools are on every host: a helper unit may run them.
    await put('usr/lib/systemd/system/demo-user.service', '[Service]\nExecStart=/usr/bin/systemd-sysusers /usr/lib/sysusers.d/demo.conf\n');
    const problems = await lint();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ rule: 'exec-missing', path: '/usr/lib/systemd/system/demo.service' });
    expect(problems[0]?.message).toContain('/usr/bin/missing');
  });

  it('flags world-writable files and undeclared setuid, but accepts a declared setuid mode', async () => {
    await put('usr/share/demo/open', 'x', 0o666);
    await put('usr/bin/sneaky', 'x', 0o4755);
    await put('usr/bin/declared-suid', 'x', 0o4755);
    const problems = (await lint()).map((p) => [p.rule, p.path]);
    expect(problems).toEqual([
      ['setuid', '/usr/bin/sneaky'],
      ['world-writable', '/usr/share/demo/open'],
    ]);
  });
});
