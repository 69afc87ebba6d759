import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { elfArch, mergeSysext, readFromImage, REPO_ROOT, runBakehouse, scratchWorkspace } from '@bakehouse/fixtures';
import { inspectImage, readRecord, type BuildRecord } from '@bakehouse/builder';

/**
 * podman is built from the real Debian archive (the one registry this project may reach), so
 * these tests exercise the exact closure the README's main-job command builds.
 */
const FLATCAR = { ID: 'flatcar', VERSION_ID: '4230.2.1', SYSEXT_LEVEL: '1.0' };
const PREFIX = '/usr/lib/bakehouse/podman';
const COMMANDS = ['podman', 'crun', 'conmon', 'passt', 'pasta', 'fuse-overlayfs', 'catatonit'];

let work: string;
let workspace: string;
let record: BuildRecord;
let image: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'podman-check-'));
  workspace = await scratchWorkspace(['podman']);
  const result = await runBakehouse(['build', 'podman'], { cwd: workspace, env: { BAKEHOUSE_CACHE_DIR: path.join(work, 'cache'), BAKEHOUSE_COMPRESSION: 'gzip' } });
  expect(result.exitCode, result.all).toBe(0);
  const dist = path.join(workspace, 'extensions/podman/dist');
  const recordFile = (await readdir(dist)).find((f) => f.endsWith('-x86-64.json'));
  expect(recordFile, `no x86-64 build record in ${dist}`).toBeDefined();
  record = await readRecord(path.join(dist, recordFile!));
  image = path.join(dist, record.image.file);
}, 600_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await rm(workspace, { recursive: true, force: true });
});

describe('podman from Debian', () => {
  it('runs from an otherwise empty root: no libc, nothing of the host', async () => {
    const probe = COMMANDS.map((c) => `chroot "$ROOT" /usr/bin/${c} --version >/dev/null 2>&1 && echo "${c}=ok" || echo "${c}=failed"`).join('; ');
    // /proc is the kernel's, not the host's files: podman and crun re-execute through /proc/self/exe.
    const result = await mergeSysext({ images: { podman: image }, osRelease: FLATCAR, probe: `mkdir -p "$ROOT/tmp" "$ROOT/proc" && mount -t proc proc "$ROOT/proc"; ${probe}` });
    expect(result.listed).toEqual(['podman']);
    expect(result.probeOutput).toContain(COMMANDS.map((c) => `${c}=ok`).join('\n'));
    // The root really has no libc of its own: only the prefix carries one.
    expect(result.files.filter((f) => /\/libc\.so\.6$/.test(f)).every((f) => f.startsWith(PREFIX.slice(1)))).toBe(true);
  });

  it('exports only declared files outside the prefix', async () => {
    const outside = record.files.filter((f) => f.type !== 'dir' && !f.path.startsWith(`${PREFIX}/`)).map((f) => f.path);
    for (const file of outside) expect(file).toMatch(/^\/usr\/(bin\/|lib\/systemd\/|lib\/extension-release\.d\/|share\/containers\/|libexec\/bakehouse\/)/);
    expect(outside).not.toContainEqual(expect.stringMatching(/\.so(\.\d+)*$/));
  });

  it('points the interpreter and RUNPATH of podman inside the prefix', async () => {
    const podman = path.join(work, 'podman.bin');
    await writeFile(podman, await readFromImage(image, `${PREFIX}/usr/bin/podman`));
    const { stdout: interpreter } = await execa('patchelf', ['--print-interpreter', podman]);
    const { stdout: runpath } = await execa('patchelf', ['--print-rpath', podman]);
    expect(interpreter.startsWith(`${PREFIX}/`)).toBe(true);
    expect(runpath.split(':').every((dir) => dir.startsWith(`${PREFIX}/`))).toBe(true);
  });

  it('ships the helper unit, which passes systemd-analyze verify, and the quadlet generators', async () => {
    const result = await mergeSysext({
      images: { podman: image },
      osRelease: FLATCAR,
      hostUsr: true,
      probe: 'systemd-analyze verify --root="$ROOT" podman-sysext-setup.service podman.socket podman.service >/dev/null 2>&1; echo "verify=$?"; readlink "$ROOT/usr/lib/systemd/system-generators/podman-system-generator"',
    });
    expect(result.probeOutput).toContain('verify=0');
    expect(result.probeOutput).toContain(`${PREFIX}/usr/libexec/podman/quadlet`);
    expect(result.files).toEqual(expect.arrayContaining(['usr/lib/systemd/user-generators/podman-user-generator', 'usr/lib/systemd/system/multi-user.target.d/10-podman-podman-sysext-setup.service.conf']));
  });

  it('the helper creates a missing policy.json and never overwrites a user\'s', async () => {
    const setup = path.join(REPO_ROOT, 'extensions/podman/files/usr/libexec/bakehouse/podman-setup');
    const result = await mergeSysext({
      images: { podman: image },
      osRelease: FLATCAR,
      probe: [
        `SYSROOT="$ROOT" sh ${setup} && cmp "$ROOT/etc/containers/policy.json" "$ROOT${PREFIX}/etc/containers/policy.json" && echo created`,
        `echo '{"default":[{"type":"reject"}]}' > "$ROOT/etc/containers/policy.json"`,
        `SYSROOT="$ROOT" sh ${setup} && cat "$ROOT/etc/containers/policy.json"`,
      ].join('; '),
    });
    expect(result.probeOutput).toContain('created');
    expect(result.probeOutput).toContain('{"default":[{"type":"reject"}]}');
  });

  it('carries SYSEXT_LEVEL, EXTENSION_RELOAD_MANAGER and the arch; arm64 is built without emulation', async () => {
    expect((await inspectImage(image)).extensionRelease).toEqual({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: 'x86-64', EXTENSION_RELOAD_MANAGER: '1' });
    const arm = image.replace('-x86-64.raw', '-arm64.raw');
    expect((await inspectImage(arm)).extensionRelease.ARCHITECTURE).toBe('arm64');
    expect(elfArch(await readFromImage(arm, `${PREFIX}/usr/bin/podman`))).toBe('arm64');
  });

  it('builds the same bytes again from the lock', async () => {
    const again = await scratchWorkspace(['podman']);
    try {
      const result = await runBakehouse(['build', 'podman', '--arch', 'x86-64'], { cwd: again, env: { BAKEHOUSE_CACHE_DIR: path.join(work, 'cache'), BAKEHOUSE_COMPRESSION: 'gzip' } });
      expect(result.exitCode, result.all).toBe(0);
      const second = await readRecord(path.join(again, 'extensions/podman/dist', record.image.file.replace(/\.raw$/, '.json')));
      expect(second.image.sha256).toBe(record.image.sha256);
      expect((await readFile(path.join(again, 'extensions/podman/dist', record.image.file))).equals(await readFile(image))).toBe(true);
    } finally {
      await rm(again, { recursive: true, force: true });
    }
  }, 300_000);
});
