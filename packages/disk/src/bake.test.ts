import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExtension, defaultCacheDir } from '@bakehouse/builder';
import { parseExtension } from '@bakehouse/schema';
import { certificateFileName, createSigningKey, exportPublicKey, readVerityCertificate, renderTransfer } from '@bakehouse/publish';
import { bakeDisk, type BakeRequest } from './bake.js';
import { makeSyntheticFlatcarDisk, SYNTHETIC_OS_RELEASE } from './test-support/synthetic-disk.js';

const FLATCAR = SYNTHETIC_OS_RELEASE.VERSION_ID!;
let work: string;
let disk: string;
let layout: Record<string, { offset: number; size: number }>;
const images: Record<string, string> = {};

/** A real squashfs extension image: extension-release, one program, optional extra files. */
async function makeImage(name: string, release: Record<string, string>, extra: Record<string, string | Buffer> = {}): Promise<string> {
  const tree = path.join(work, 'trees', name);
  const files: Record<string, string | Buffer> = {
    [`usr/lib/extension-release.d/extension-release.${name}`]: Object.entries(release).map(([k, v]) => `${k}=${v}\n`).join(''),
    [`usr/bin/${name}`]: `#!/bin/sh\necho ${name}\n`,
    ...extra,
  };
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(tree, file)), { recursive: true });
    await writeFile(path.join(tree, file), content);
  }
  await chmod(path.join(tree, `usr/bin/${name}`), 0o755);
  const arch = release.ARCHITECTURE ?? 'any';
  const image = path.join(work, 'images', `${name}-1.0-${arch}.raw`);
  await mkdir(path.dirname(image), { recursive: true });
  await execa('mksquashfs', [tree, image, '-all-root', '-noappend', '-no-progress', '-quiet', '-mkfs-time', '0', '-all-time', '0', '-comp', 'gzip']);
  return image;
}

const level = { ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: 'x86-64' };
const spec = (file: string, part: string) => `${file}?offset=${layout[part]!.offset}`;
const debugfs = async (file: string, part: string, command: string) => (await execa('debugfs', ['-R', command, spec(file, part)], { stripFinalNewline: false })).stdout;

async function sha256Range(file: string, offset: number, size: number): Promise<string> {
  const handle = await open(file, 'r');
  const hash = createHash('sha256');
  try {
    const buffer = Buffer.alloc(1 << 20);
    for (let at = 0; at < size; at += buffer.length) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - at), offset + at);
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** The GPT (both copies) and every partition bake must not touch. */
async function untouched(file: string): Promise<Record<string, string>> {
  const { size } = await stat(file);
  const sums: Record<string, string> = { 'primary GPT': await sha256Range(file, 0, 34 * 512), 'backup GPT': await sha256Range(file, size - 33 * 512, 33 * 512) };
  for (const part of ['EFI-SYSTEM', 'BIOS-BOOT', 'USR-A', 'USR-B', 'OEM-CONFIG']) sums[part] = await sha256Range(file, layout[part]!.offset, layout[part]!.size);
  return sums;
}

/** The OEM partition's files, via btrfs restore of a copy, after btrfs check. */
async function oemFiles(file: string): Promise<{ dir: string; check: string }> {
  const image = path.join(work, `oem-${Math.random().toString(16).slice(2)}.img`);
  await execa('dd', [`if=${file}`, `of=${image}`, 'bs=1M', `skip=${layout.OEM!.offset}`, `count=${layout.OEM!.size}`, 'iflag=skip_bytes,count_bytes', 'status=none']);
  const check = await execa('btrfs', ['check', '--readonly', image], { reject: false, all: true });
  expect(check.exitCode, check.all).toBe(0);
  const dir = `${image}.d`;
  await mkdir(dir);
  await execa('btrfs', ['restore', '-S', '-m', image, dir]);
  return { dir, check: check.all ?? '' };
}

async function expectRefused(request: Omit<BakeRequest, 'out'>, message: RegExp): Promise<void> {
  const outDir = await mkdtemp(path.join(work, 'refused-'));
  const out = path.join(outDir, 'baked.bin');
  await expect(bakeDisk({ ...request, out })).rejects.toThrow(message);
  expect(await readdir(outDir)).toEqual([]);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-disk-test-'));
  disk = path.join(work, 'flatcar_production_image.bin');
  layout = await makeSyntheticFlatcarDisk({ file: disk });
  images.hello = await makeImage('hello', level);
  images.tool = await makeImage('tool', level);
  images.docker = await makeImage('docker', level);
  images.armhello = await makeImage('armhello', { ...level, ARCHITECTURE: 'arm64' });
  const oemRelease = 'ID=qemu\nNAME="QEMU"\n';
  images.oem = await makeImage('oem-qemu', { ID: 'flatcar', VERSION_ID: FLATCAR, ARCHITECTURE: 'x86-64', SYSEXT_ID: 'oem-qemu' }, { 'usr/share/oem/oem-qemu/oem-release': oemRelease });
  images.oldOem = await makeImage('oem-old', { ID: 'flatcar', VERSION_ID: '3975.2.0', ARCHITECTURE: 'x86-64' }, { 'usr/share/oem/oem-old/oem-release': 'ID=old\n' });
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('bakeDisk', () => {
  it('bakes extensions into ROOT and OEM, Flatcar-style OEM images, masks and sysupdate, leaving the rest byte-identical', async () => {
    const gnupg = await mkdtemp(path.join(work, 'gnupg-'));
    const keyId = await createSigningKey({ gnupgHome: gnupg, userId: 'Bake Test <bake@example.org>' });
    const pubring = path.join(work, 'bakehouse-pubring.gpg');
    await writeFile(pubring, await exportPublicKey({ gnupgHome: gnupg, keyId }));
    const ignition = path.join(work, 'config.ign');
    await writeFile(ignition, JSON.stringify({ ignition: { version: '3.3.0' } }));
    const before = await untouched(disk);
    const out = path.join(work, 'baked.bin');
    const summary = await bakeDisk({
      disk,
      out,
      images: [
        { label: 'hello', files: [images.armhello!, images.hello!] },
        { label: 'tool', files: [images.tool!], placement: 'oem' },
        { label: 'docker', files: [images.docker!], builtinConflicts: ['docker-flatcar', 'containerd-flatcar'] },
        { label: 'oem-qemu', files: [images.oem!] },
      ],
      maskBuiltins: true,
      sysupdate: { baseUrl: 'https://sysext.example.org/flatcar', pubring },
      ignition,
    });
    expect(summary.flatcarVersion).toBe(FLATCAR);
    expect(await untouched(out)).toEqual(before);

    // ROOT: the image, its link, masks, the sysupdate transfer, key and timer; all root-owned, explicit modes.
    const installed = '/opt/extensions/hello/hello-1.0-x86-64.raw';
    const stat1 = await debugfs(out, 'ROOT', `stat ${installed}`);
    expect(stat1).toMatch(/Type: regular\s+Mode:\s+0644/);
    expect(stat1).toMatch(/User:\s+0\s+Group:\s+0/);
    const dumped = path.join(work, 'dumped.raw');
    await execa('debugfs', ['-R', `dump ${installed} ${dumped}`, spec(out, 'ROOT')]);
    expect(await readFile(dumped)).toEqual(await readFile(images.hello!));
    expect(await debugfs(out, 'ROOT', 'stat /etc/extensions/hello.raw')).toContain(`Fast link dest: "${installed}"`);
    expect(await debugfs(out, 'ROOT', 'stat /etc/extensions/tool.raw')).toContain('Fast link dest: "/oem/extensions/tool/tool-1.0-x86-64.raw"');
    for (const builtin of ['docker-flatcar', 'containerd-flatcar']) {
      const link = await debugfs(out, 'ROOT', `stat /etc/extensions/${builtin}.raw`);
      expect(link).toContain('Fast link dest: "/dev/null"');
      expect(link).toMatch(/User:\s+0\s+Group:\s+0/);
    }
    expect(await debugfs(out, 'ROOT', 'stat /opt/extensions/hello')).toMatch(/Type: directory\s+Mode:\s+0755/);
    expect(await debugfs(out, 'ROOT', 'cat /etc/sysupdate.hello.d/hello.conf')).toBe(renderTransfer({ extension: 'hello', baseUrl: 'https://sysext.example.org/flatcar' }));
    expect(Buffer.from((await execa('debugfs', ['-R', 'cat /etc/systemd/import-pubring.gpg', spec(out, 'ROOT')], { encoding: 'buffer', stripFinalNewline: false })).stdout)).toEqual(await readFile(pubring));
    expect(await debugfs(out, 'ROOT', 'stat /etc/systemd/system/timers.target.wants/systemd-sysupdate.timer')).toContain('"/usr/lib/systemd/system/systemd-sysupdate.timer"');
    expect(await debugfs(out, 'ROOT', 'cat /etc/systemd/system/systemd-sysupdate.service.d/hello.conf')).toContain('systemd-sysupdate -C hello update');
    await expect(debugfs(out, 'ROOT', 'stat /etc/sysupdate.tool.d')).resolves.not.toContain('Type:');
    const fsck = await execa('e2fsck', ['-fn', spec(out, 'ROOT')], { reject: false, all: true });
    expect(fsck.exitCode, fsck.all).toBe(0);

    // OEM: rebuilt with the same label and UUID; Flatcar's OEM install; the =oem image; config.ign.
    const { dir } = await oemFiles(out);
    const label = (await execa('btrfs', ['inspect-internal', 'dump-super', `${dir.replace(/\.d$/, '')}`])).stdout;
    expect(label).toMatch(/label\s+OEM/);
    expect(label).toMatch(/fsid\s+00000000-0000-4000-8000-0000000000e3/);
    expect(await readFile(path.join(dir, `sysext/oem-qemu-${FLATCAR}.raw`))).toEqual(await readFile(images.oem!));
    expect(await readFile(path.join(dir, 'sysext/active-oem-qemu'), 'utf8')).toBe('');
    expect(await readFile(path.join(dir, 'oem-release'), 'utf8')).toBe('ID=qemu\nNAME="QEMU"\n');
    expect(await readFile(path.join(dir, 'extensions/tool/tool-1.0-x86-64.raw'))).toEqual(await readFile(images.tool!));
    const ign = await stat(path.join(dir, 'config.ign'));
    expect([ign.mode & 0o7777, ign.uid, ign.gid]).toEqual([0o600, 0, 0]);
    expect((await stat(path.join(dir, 'oem-release'))).mode & 0o7777).toBe(0o644);

    // Sparse: the 300 MiB image holds a few MiB of data.
    const sparse = await stat(out);
    expect(sparse.blocks * 512).toBeLessThan(sparse.size / 2);
    expect(summary.written.map((w) => w.hostPath)).toEqual(expect.arrayContaining([installed, `/oem/sysext/oem-qemu-${FLATCAR}.raw`, '/oem/config.ign', '/etc/extensions/docker-flatcar.raw']));
  });

  it('gives the same bytes twice, from a raw, a bzip2 and a qcow2 disk; qcow2 comes back as qcow2', async () => {
    const request = { disk, images: [{ label: 'hello', files: [images.hello!] }] };
    const first = path.join(work, 'twice-1.bin');
    const second = path.join(work, 'twice-2.bin');
    await bakeDisk({ ...request, out: first });
    await bakeDisk({ ...request, out: second });
    const sum = async (file: string) => sha256Range(file, 0, (await stat(file)).size);
    expect(await sum(second)).toBe(await sum(first));

    // An OEM rebuild gives the same files and the same ROOT, but not the same OEM bytes: Debian 12's
    // mkfs.btrfs (6.2) copies host inode numbers and ctimes and draws random device and chunk-tree UUIDs.
    const oemRequest = { disk, images: [{ label: 'tool', files: [images.tool!], placement: 'oem' as const }] };
    const oemFirst = path.join(work, 'twice-oem-1.bin');
    const oemSecond = path.join(work, 'twice-oem-2.bin');
    await bakeDisk({ ...oemRequest, out: oemFirst });
    await bakeDisk({ ...oemRequest, out: oemSecond });
    expect(await untouched(oemSecond)).toEqual(await untouched(oemFirst));
    expect(await sha256Range(oemSecond, layout.ROOT!.offset, layout.ROOT!.size)).toBe(await sha256Range(oemFirst, layout.ROOT!.offset, layout.ROOT!.size));
    const listing = async (file: string) => {
      const { dir } = await oemFiles(file);
      const entries = await readdir(dir, { recursive: true, withFileTypes: true });
      return Promise.all(
        entries.map(async (e) => {
          const full = path.join(e.parentPath, e.name);
          const s = await stat(full);
          return `${path.relative(dir, full)} ${s.mode.toString(8)} ${s.uid}:${s.gid} ${s.mtimeMs} ${e.isFile() ? createHash('sha256').update(await readFile(full)).digest('hex') : ''}`;
        }),
      ).then((lines) => lines.sort());
    };
    expect(await listing(oemSecond)).toEqual(await listing(oemFirst));

    await execa('bzip2', ['-k', '-1', disk]);
    const fromBz2 = path.join(work, 'from-bz2.bin');
    await bakeDisk({ ...request, disk: `${disk}.bz2`, out: fromBz2 });
    expect(await sum(fromBz2)).toBe(await sum(first));

    const qcow2 = path.join(work, 'disk.qcow2');
    await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', disk, qcow2]);
    const bakedQcow2 = path.join(work, 'baked.qcow2');
    await bakeDisk({ ...request, disk: qcow2, out: bakedQcow2 });
    expect((await readFile(bakedQcow2)).subarray(0, 4).toString('latin1')).toBe('QFI\xfb');
    const back = path.join(work, 'qcow2-back.bin');
    await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', bakedQcow2, back]);
    expect(await sum(back)).toBe(await sum(first));
  });

  it('checks the disk signature first when asked', async () => {
    const gnupg = await mkdtemp(path.join(work, 'gnupg-sig-'));
    const keyId = await createSigningKey({ gnupgHome: gnupg, userId: 'Flatcar Test <sig@example.org>' });
    const keyring = path.join(work, 'flatcar.asc');
    await writeFile(keyring, await exportPublicKey({ gnupgHome: gnupg, keyId, armor: true }));
    await execa('gpg', ['--homedir', gnupg, '--batch', '--yes', '--detach-sign', '--output', `${disk}.sig`, disk]);
    const request = { disk, images: [{ label: 'hello', files: [images.hello!] }], signature: { file: `${disk}.sig`, keyring } };
    const out = path.join(work, 'signed.bin');
    await bakeDisk({ ...request, out });
    await stat(out);

    const other = path.join(work, 'other.bin');
    await copyFile(disk, other);
    const handle = await open(other, 'r+');
    await handle.write(Buffer.from('x'), 0, 1, layout['USR-B']!.offset);
    await handle.close();
    await expectRefused({ ...request, disk: other }, /does not match its signature/);
  });

  it('bakes a signed DDI after verifying it, with its certificate in /etc/verity.d', async () => {
    const key = path.join(work, 'verity.key');
    const cert = path.join(work, 'verity.crt');
    await execa('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '3650', '-subj', '/CN=bake test']);
    const extDir = path.join(work, 'signed-ext');
    await mkdir(path.join(extDir, 'files/usr/share/signed'), { recursive: true });
    await writeFile(path.join(extDir, 'files/usr/share/signed/hello'), 'signed\n');
    const manifest = parseExtension({ name: 'signed', description: 'signed', homepage: 'https://example.org', arch: ['x86-64'] }, 'signed/extension.ts');
    const [built] = await buildExtension(manifest, { lockVersion: 1, images: [{ version: '1.0', inputs: {} }] }, extDir, {
      arches: ['x86-64'],
      distDir: path.join(extDir, 'dist'),
      fetch: { cacheDir: defaultCacheDir() },
      signing: { key, cert },
    });
    const request = { disk, images: [{ label: 'signed', files: [built!.imagePath] }] };
    await expectRefused(request, /is a signed DDI: pass --verity-cert FILE/);
    const out = path.join(work, 'signed-ddi.bin');
    await bakeDisk({ ...request, out, verityCert: cert });
    const { entry, pem } = await readVerityCertificate(cert);
    const installed = `/etc/verity.d/${certificateFileName(entry.certificateSha256)}`;
    expect(await debugfs(out, 'ROOT', `cat ${installed}`)).toBe(pem.toString());
    expect(await debugfs(out, 'ROOT', `stat ${installed}`)).toMatch(/Mode:\s+0644[\s\S]*User:\s+0\s+Group:\s+0/);
    expect(await debugfs(out, 'ROOT', 'stat /etc/extensions/signed.raw')).toContain(`Fast link dest: "/opt/extensions/signed/${path.basename(built!.imagePath)}"`);
  }, 300_000);

  it('reads the release from a btrfs USR-A, as on current Flatcar', async () => {
    const btrfsUsr = path.join(work, 'btrfs-usr.bin');
    await makeSyntheticFlatcarDisk({ file: btrfsUsr, usrFilesystem: 'btrfs', sizesMiB: { usr: 128 } });
    const out = path.join(work, 'btrfs-usr-baked.bin');
    const summary = await bakeDisk({ disk: btrfsUsr, out, images: [{ label: 'oem-qemu', files: [images.oem!] }] });
    expect(summary.flatcarVersion).toBe(FLATCAR);
    await expectRefused({ disk: btrfsUsr, images: [{ label: 'oem-old', files: [images.oldOem!] }] }, /pinned to Flatcar 3975\.2\.0 \(VERSION_ID\), but the disk is Flatcar 4230\.2\.3/);
  });

  it('refuses, leaving nothing behind: release pin, architecture, built-ins, space, GPT, layout, format', async () => {
    const one = (file: string, extra: Partial<BakeRequest['images'][number]> = {}) => ({ disk, images: [{ label: path.basename(file), files: [file], ...extra }] });
    await expectRefused(one(images.oldOem!), /pinned to Flatcar 3975\.2\.0 \(VERSION_ID\), but the disk is Flatcar 4230\.2\.3/);
    await expectRefused(one(images.armhello!), /the image is for arm64, the disk is x86-64/);
    await expectRefused(one(images.docker!, { builtinConflicts: ['docker-flatcar'] }), /replaces Flatcar's built-in docker-flatcar.*--mask-builtins/);
    await expectRefused(one(await makeImage('docker-flatcar', level)), /is Flatcar's own built-in image/);
    await expectRefused(one(images.oem!, { placement: 'root' }), /OEM image: Flatcar activates it from the OEM partition only/);

    const small = path.join(work, 'small-root.bin');
    await makeSyntheticFlatcarDisk({ file: small, sizesMiB: { root: 8 } });
    const random = path.join(work, 'random');
    await writeFile(random, Buffer.alloc(12 << 20, 0).map((_, i) => (i * 2654435761) >>> 24 ^ i));
    const big = await makeImage('big', level, { 'usr/share/big/blob': await readFile(random) });
    await expectRefused({ disk: small, images: [{ label: 'big', files: [big] }] }, /ROOT \(partition 9\) has [\d.]+ MiB free, the baked files need [\d.]+ MiB: [\d.]+ MiB missing/);

    const corrupt = path.join(work, 'corrupt.bin');
    await copyFile(disk, corrupt);
    const handle = await open(corrupt, 'r+');
    await handle.write(Buffer.from([0xff]), 0, 1, 2 * 512 + 60);
    await handle.close();
    await expectRefused({ ...one(images.hello!), disk: corrupt }, /primary GPT partition entries fail their CRC32 check/);

    const badBackup = path.join(work, 'bad-backup.bin');
    await copyFile(disk, badBackup);
    const backup = await open(badBackup, 'r+');
    await backup.write(Buffer.from([0xff]), 0, 1, (await backup.stat()).size - 33 * 512 + 60);
    await backup.close();
    await expectRefused({ ...one(images.hello!), disk: badBackup }, /backup GPT partition entries fail their CRC32 check/);

    const noRoot = path.join(work, 'no-root.bin');
    await copyFile(disk, noRoot);
    await execa('sgdisk', ['-c', '9:DATA', noRoot]);
    await expectRefused({ ...one(images.hello!), disk: noRoot }, /unknown disk layout: expected one GPT partition named ROOT, found 0/);

    const vmdk = path.join(work, 'disk.vmdk');
    await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', disk, vmdk]);
    await expectRefused({ ...one(images.hello!), disk: vmdk }, /a vmdk file: bake takes a raw Flatcar disk image.*qcow2/);
  });
});
