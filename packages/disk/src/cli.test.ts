import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeSyntheticFlatcarDisk } from './test-support/synthetic-disk.js';

const BAKEHOUSE = fileURLToPath(new URL('../../cli/bin/bakehouse.js', import.meta.url));
const NOBODY = 65534;
let work: string;

/** `bakehouse bake` as an unprivileged user (nobody), with a PATH that lacks /usr/sbin as a normal user's does. */
const bakeAsNobody = (args: string[]) =>
  execa('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, BAKEHOUSE, 'bake', ...args], {
    cwd: work,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: work },
    extendEnv: false,
    reject: false,
    all: true,
  });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-bake-cli-'));
  await makeSyntheticFlatcarDisk({ file: path.join(work, 'flatcar.bin') });
  const tree = path.join(work, 'tree');
  await mkdir(path.join(tree, 'usr/lib/extension-release.d'), { recursive: true });
  await writeFile(path.join(tree, 'usr/lib/extension-release.d/extension-release.hello'), 'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n');
  await execa('mksquashfs', [tree, path.join(work, 'hello-1.0-x86-64.raw'), '-all-root', '-noappend', '-quiet', '-no-progress', '-comp', 'gzip']);
  await execa('chown', ['-R', `${NOBODY}:${NOBODY}`, work]);
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it('bakes without root: ROOT and a rebuilt OEM hold root-owned files, and it prints what went where', async () => {
  const result = await bakeAsNobody(['flatcar.bin', './hello-1.0-x86-64.raw=oem']);
  expect(result.exitCode, result.all).toBe(0);
  expect(result.stdout).toContain(`into ${path.join(work, 'flatcar.baked.bin')}`);
  expect(result.stdout).toMatch(/OEM\s+\/oem\/extensions\/hello\/hello-1\.0-x86-64\.raw/);
  expect(result.stdout).toMatch(/ROOT\s+\/etc\/extensions\/hello\.raw -> \/oem\/extensions\/hello\/hello-1\.0-x86-64\.raw/);
  const layout = (await execa('sgdisk', ['-i', '6', path.join(work, 'flatcar.baked.bin')])).stdout;
  const oemOffset = Number(/First sector: (\d+)/.exec(layout)![1]) * 512;
  const image = path.join(work, 'oem.img');
  await execa('dd', [`if=${path.join(work, 'flatcar.baked.bin')}`, `of=${image}`, 'bs=1M', `skip=${oemOffset}`, `count=${128 << 20}`, 'iflag=skip_bytes,count_bytes', 'status=none']);
  await mkdir(path.join(work, 'oem'));
  await execa('btrfs', ['restore', '-m', image, path.join(work, 'oem')]);
  const listing = (await execa('ls', ['-ln', path.join(work, 'oem/extensions/hello')])).stdout;
  expect(listing).toMatch(/-rw-r--r-- 1 0 0 \d+ .* hello-1\.0-x86-64\.raw/);
});

it('prints a refusal as one line without a stack, exit 1, and leaves nothing', async () => {
  const before = await readdir(work);
  const result = await bakeAsNobody(['flatcar.bin', './hello-1.0-x86-64.raw', '--out', 'refused.bin', '--ignition', 'hello-1.0-x86-64.raw']);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toMatch(/^bakehouse: hello-1\.0-x86-64\.raw is not JSON: --ignition takes an Ignition config/);
  expect(result.stderr).not.toContain('    at ');
  expect(await readdir(work)).toEqual(before);
});
