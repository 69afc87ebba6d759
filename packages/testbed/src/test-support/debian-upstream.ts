import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { extractDebs, fetchDownload, resolveClosure } from '@bakehouse/builder';
import { containerdUpstream, dockerUpstream, FakeUpstream, kubernetesUpstream, type KubernetesVersions, type Sources } from '@bakehouse/fixtures';

/**
 * TEST-ONLY SUBSTITUTION. Upstream's release servers are unreachable here, so the boot
 * tests build containerd, docker and kubernetes from archives with upstream's names and
 * layout whose x86-64 binaries are Debian trixie's real ones: containerd 1.7, runc 1.1,
 * docker.io/docker-cli 26.1, tini (docker-init) and kubectl 1.32 (for the newest
 * kubernetes line only; the older lines are not booted). They are dynamically
 * linked against glibc (and runc against libseccomp), which the testbed root provides;
 * upstream's are static. kubeadm, kubelet, crictl and the CNI plugins are not packaged in
 * Debian: they stay non-executable stand-ins, and the checks that would run them are
 * reported as skipped. arm64 entries stay stand-ins too (the testbed boots x86-64 only).
 */
export const SUBSTITUTES = ['containerd', 'runc', 'docker.io', 'docker-cli', 'tini', 'kubectl'];

export interface RealUpstreamVersions {
  containerd: string;
  runc: string;
  docker: string;
  kubernetes: KubernetesVersions;
}

/** Downloads (sha256-pinned by the signed index, cached) and unpacks the Debian packages into `dir`. */
export async function unpackSubstitutes(dir: string, cacheDir: string): Promise<void> {
  const closure = await resolveClosure({ suite: 'trixie', packages: SUBSTITUTES }, 'x86-64', { workDir: path.join(cacheDir, 'testbed-apt') });
  const debs = closure.filter((deb) => SUBSTITUTES.includes(deb.package));
  const files = await Promise.all(debs.map((deb) => fetchDownload({ name: deb.package, url: deb.url, sha256: deb.sha256 }, { cacheDir })));
  await extractDebs(files, dir);
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

/**
 * Writes the upstream archives of containerd, docker and kubernetes under `siteDir`
 * (served at `baseUrl`), x86-64 ones with Debian's real binaries, and returns the source
 * overrides that make `bakehouse build` use them.
 */
export async function realUpstreams(siteDir: string, baseUrl: string, versions: RealUpstreamVersions, cacheDir: string): Promise<Sources> {
  const sources: Sources = {
    ...(await containerdUpstream(siteDir, baseUrl, { containerd: versions.containerd, runc: versions.runc })),
    ...(await dockerUpstream(siteDir, baseUrl, versions.docker)),
    ...(await kubernetesUpstream(siteDir, baseUrl, versions.kubernetes)),
  };
  const debian = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-debian-'));
  try {
    await unpackSubstitutes(debian, cacheDir);
    const upstream = new FakeUpstream(siteDir, baseUrl);
    const containerd = { containerd: 'usr/bin/containerd', 'containerd-shim-runc-v2': 'usr/bin/containerd-shim-runc-v2', ctr: 'usr/bin/ctr' };
    await upstream.add(`https://github.com/containerd/containerd/releases/download/v${versions.containerd}/containerd-static-${versions.containerd}-linux-amd64.tar.gz`, (file) =>
      tarGz(file, debian, 'bin', containerd),
    );
    await upstream.add(`https://github.com/opencontainers/runc/releases/download/v${versions.runc}/runc.amd64`, (file) => copyFile(path.join(debian, 'usr/sbin/runc'), file));
    const docker = {
      dockerd: 'usr/sbin/dockerd',
      docker: 'usr/bin/docker',
      ...containerd,
      runc: 'usr/sbin/runc',
      'docker-init': 'usr/bin/tini-static',
      'docker-proxy': 'usr/sbin/docker-proxy',
    };
    await upstream.add(`https://download.docker.com/linux/static/stable/x86_64/docker-${versions.docker}.tgz`, (file) => tarGz(file, debian, 'docker', docker));
    // Only the newest line is booted; older lines keep stand-ins, which saves compressing 80 MB twice.
    const newest = Object.keys(versions.kubernetes.releases).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1)!;
    await upstream.add(`https://dl.k8s.io/release/v${newest}/bin/linux/amd64/kubectl`, (file) => copyFile(path.join(debian, 'usr/bin/kubectl'), file));
    return { ...sources, ...upstream.sources };
  } finally {
    await rm(debian, { recursive: true, force: true });
  }
}
