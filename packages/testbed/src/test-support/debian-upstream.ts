import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { extractDebs, fetchDownload, resolveClosure } from '@bakehouse/builder';
import { containerdUpstream, dockerUpstream, FakeUpstream, kubernetesUpstream, type KubernetesVersions, type Sources } from '@bakehouse/fixtures';
import type { Arch, LockedDeb } from '@bakehouse/schema';

/**
 * TEST-ONLY SUBSTITUTION. Upstream's release servers are unreachable here, so the tests
 * build containerd, docker and kubernetes from archives with upstream's names and layout
 * whose binaries are Debian trixie's real ones, for x86-64 and arm64 alike: containerd 1.7,
 * runc 1.1, docker.io/docker-cli 26.1, tini (docker-init) and kubectl 1.32 (for the newest
 * kubernetes line only; the older lines are not run). They are dynamically linked against
 * glibc (runc also libseccomp, dockerd libsystemd: RUNTIME_LIBRARIES), which the testbed root
 * provides; upstream's are static. kubeadm, kubelet, crictl and the CNI plugins are not
 * packaged in Debian: they stay stand-ins that only print "NAME VERSION fixture", and the
 * checks that would run them are reported as skipped.
 */
export const SUBSTITUTES = ['containerd', 'runc', 'docker.io', 'docker-cli', 'tini', 'kubectl'];

/** What the substitutes link against: libc.so.6, libseccomp.so.2 (runc), libsystemd.so.0 (dockerd). */
export const RUNTIME_LIBRARIES = ['libc6', 'libseccomp2', 'libsystemd0'];

/** Upstream's names for an arch: Go's in most URLs, uname's in download.docker.com's. */
const UPSTREAM_ARCH: Record<Arch, { goarch: string; uname: string }> = {
  'x86-64': { goarch: 'amd64', uname: 'x86_64' },
  arm64: { goarch: 'arm64', uname: 'aarch64' },
};

export interface RealUpstreamVersions {
  containerd: string;
  runc: string;
  docker: string;
  kubernetes: KubernetesVersions;
}

/** The closure of `packages` for `arch` in trixie, resolved with apt against the signed index (sha256 pins). */
function resolveTrixie(packages: string[], arch: Arch, cacheDir: string): Promise<LockedDeb[]> {
  return resolveClosure({ suite: 'trixie', packages }, arch, { workDir: path.join(cacheDir, 'testbed-apt') });
}

/** Downloads (sha256-verified, cached) and unpacks `debs` into `dir`. */
async function unpack(debs: LockedDeb[], dir: string, cacheDir: string): Promise<void> {
  const files = await Promise.all(debs.map((deb) => fetchDownload({ name: deb.package, url: deb.url, sha256: deb.sha256 }, { cacheDir })));
  await extractDebs(files, dir);
}

/** The Debian packages that stand in for upstream's binaries on `arch`, with their versions. */
export async function substituteDebs(cacheDir: string, arch: Arch = 'x86-64'): Promise<LockedDeb[]> {
  return (await resolveTrixie(SUBSTITUTES, arch, cacheDir)).filter((deb) => SUBSTITUTES.includes(deb.package));
}

/** Downloads (sha256-pinned by the signed index, cached) and unpacks the substitutes for `arch` into `dir`. */
export async function unpackSubstitutes(dir: string, cacheDir: string, arch: Arch = 'x86-64'): Promise<void> {
  await unpack(await substituteDebs(cacheDir, arch), dir, cacheDir);
}

/**
 * Unpacks RUNTIME_LIBRARIES and their closure for `arch` into `dir` (a usr/ tree, as in trixie):
 * the base an otherwise empty root needs to run the substitutes, where upstream's static
 * binaries need none.
 */
export async function unpackRuntimeLibraries(dir: string, cacheDir: string, arch: Arch): Promise<LockedDeb[]> {
  const debs = await resolveTrixie(RUNTIME_LIBRARIES, arch, cacheDir);
  await unpack(debs, dir, cacheDir);
  return debs;
}

/**
 * A tar.gz holding `files` (name → path under `from`) as DIR/NAME, mode 0755, owned by root.
 * The system tar with gzip -1: these archives hold hundreds of megabytes and only need to unpack.
 */
async function tarGz(file: string, from: string, dir: string, files: Record<string, string>): Promise<void> {
  const stage = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-tar-'));
  try {
    await mkdir(path.join(stage, dir));
    for (const [name, source] of Object.entries(files)) await copyFile(path.join(from, source), path.join(stage, dir, name));
    await execa('tar', ['-C', stage, '--owner=0', '--group=0', '--mode=0755', '--sort=name', '--use-compress-program=gzip -1', '-cf', file, dir]);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Replaces the stand-ins of `arch` with archives of the Debian binaries unpacked in `debian`. */
async function addSubstitutes(upstream: FakeUpstream, debian: string, arch: Arch, versions: RealUpstreamVersions): Promise<void> {
  const { goarch, uname } = UPSTREAM_ARCH[arch];
  const containerd = { containerd: 'usr/bin/containerd', 'containerd-shim-runc-v2': 'usr/bin/containerd-shim-runc-v2', ctr: 'usr/bin/ctr' };
  await upstream.add(`https://github.com/containerd/containerd/releases/download/v${versions.containerd}/containerd-static-${versions.containerd}-linux-${goarch}.tar.gz`, (file) =>
    tarGz(file, debian, 'bin', containerd),
  );
  await upstream.add(`https://github.com/opencontainers/runc/releases/download/v${versions.runc}/runc.${goarch}`, (file) => copyFile(path.join(debian, 'usr/sbin/runc'), file));
  const docker = {
    dockerd: 'usr/sbin/dockerd',
    docker: 'usr/bin/docker',
    ...containerd,
    runc: 'usr/sbin/runc',
    'docker-init': 'usr/bin/tini-static',
    'docker-proxy': 'usr/sbin/docker-proxy',
  };
  await upstream.add(`https://download.docker.com/linux/static/stable/${uname}/docker-${versions.docker}.tgz`, (file) => tarGz(file, debian, 'docker', docker));
  // Only the newest line is run; older lines keep stand-ins, which saves compressing 80 MB twice.
  const newest = Object.keys(versions.kubernetes.releases).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1)!;
  await upstream.add(`https://dl.k8s.io/release/v${newest}/bin/linux/${goarch}/kubectl`, (file) => copyFile(path.join(debian, 'usr/bin/kubectl'), file));
}

/**
 * Writes the upstream archives of containerd, docker and kubernetes under `siteDir`
 * (served at `baseUrl`), those of `realArches` with Debian's real binaries (the other arch keeps
 * the stand-ins), and returns the source overrides that make `bakehouse build` use them.
 */
export async function realUpstreams(siteDir: string, baseUrl: string, versions: RealUpstreamVersions, cacheDir: string, realArches: readonly Arch[] = ['x86-64']): Promise<Sources> {
  const sources: Sources = {
    ...(await containerdUpstream(siteDir, baseUrl, { containerd: versions.containerd, runc: versions.runc })),
    ...(await dockerUpstream(siteDir, baseUrl, versions.docker)),
    ...(await kubernetesUpstream(siteDir, baseUrl, versions.kubernetes)),
  };
  const upstream = new FakeUpstream(siteDir, baseUrl);
  // One arch after the other: apt locks its lists per arch, and each unpacked set is ~400 MB.
  for (const arch of realArches) {
    const debian = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-debian-'));
    try {
      await unpackSubstitutes(debian, cacheDir, arch);
      await addSubstitutes(upstream, debian, arch, versions);
    } finally {
      await rm(debian, { recursive: true, force: true });
    }
  }
  return { ...sources, ...upstream.sources };
}
