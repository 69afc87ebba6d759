import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { extractDebs, fetchDownload, resolveClosure } from '@bakehouse/builder';
import { FakeUpstream, RUNTIME_VERSIONS, type RuntimeVersions, type Sources } from '@bakehouse/fixtures';
import type { Arch, LockedDeb } from '@bakehouse/schema';

/**
 * TEST-ONLY SUBSTITUTION, like debian-upstream.ts: github.com is unreachable here, so the docker
 * CLI plugins are built from Debian trixie's real docker-compose (2.26.1) and docker-buildx
 * (0.13.1) binaries, published under upstream's release file names. They are older than the
 * pinned upstream versions and dynamically linked against glibc, which the testbed root has.
 */
export const PLUGIN_PACKAGES = { compose: 'docker-compose', buildx: 'docker-buildx' } as const;

const UPSTREAM_ARCH: Record<Arch, { goarch: string; uname: string }> = {
  'x86-64': { goarch: 'amd64', uname: 'x86_64' },
  arm64: { goarch: 'arm64', uname: 'aarch64' },
};

/** Debian's docker-compose and docker-buildx packages for `arch`, sha256-pinned by trixie's signed index. */
export async function pluginDebs(cacheDir: string, arch: Arch): Promise<LockedDeb[]> {
  const wanted: string[] = Object.values(PLUGIN_PACKAGES);
  const closure = await resolveClosure({ suite: 'trixie', packages: wanted }, arch, { workDir: path.join(cacheDir, 'testbed-apt') });
  return closure.filter((deb) => wanted.includes(deb.package));
}

/**
 * Writes docker-compose-linux-ARCH and buildx-vVERSION.linux-ARCH under `siteDir` holding
 * Debian's binaries for `arch`, and returns the source overrides for them.
 */
export async function debianPluginUpstream(siteDir: string, baseUrl: string, cacheDir: string, arch: Arch = 'x86-64', versions: RuntimeVersions = RUNTIME_VERSIONS): Promise<Sources> {
  const debs = await pluginDebs(cacheDir, arch);
  const unpacked = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-debian-plugins-'));
  try {
    const files = await Promise.all(debs.map((deb) => fetchDownload({ name: deb.package, url: deb.url, sha256: deb.sha256 }, { cacheDir })));
    await extractDebs(files, unpacked);
    const plugin = async (name: string) => {
      const file = path.join(unpacked, 'usr/libexec/docker/cli-plugins', name);
      if (!(await stat(file).catch(() => undefined))?.isFile()) throw new Error(`Debian's ${name} package has no /usr/libexec/docker/cli-plugins/${name}`);
      return file;
    };
    const { goarch, uname } = UPSTREAM_ARCH[arch];
    const upstream = new FakeUpstream(siteDir, baseUrl);
    const compose = await plugin('docker-compose');
    const buildx = await plugin('docker-buildx');
    await upstream.add(`https://github.com/docker/compose/releases/download/v${versions.compose}/docker-compose-linux-${uname}`, (file) => copyFile(compose, file));
    await upstream.add(`https://github.com/docker/buildx/releases/download/v${versions.buildx}/buildx-v${versions.buildx}.linux-${goarch}`, (file) => copyFile(buildx, file));
    return upstream.sources;
  } finally {
    await rm(unpacked, { recursive: true, force: true });
  }
}
