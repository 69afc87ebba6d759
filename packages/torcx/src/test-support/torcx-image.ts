import { execa } from 'execa';
import { fakeElf, writeTar, type TarEntrySpec } from '@bakehouse/fixtures';

/**
 * What Flatcar's build_torcx_store (flatcar/scripts, function torcx_package) did to every
 * unit under lib/systemd/system of a Torcx image, run with GNU sed exactly as the script ran
 * it, so the fixtures carry the real rewritten lines rather than our idea of them.
 */
export async function torcxBuildRewrite(unit: string, imageName: string): Promise<string> {
  const { stdout } = await execa(
    'sed',
    [
      '-e', '/^\\[Unit]/aRequires=torcx.target\\nAfter=torcx.target',
      '-e', '/^\\[Service]/aEnvironmentFile=/run/metadata/torcx',
      '-e', `/^\\[Service]/aEnvironment=TORCX_IMAGEDIR=/${imageName}`,
      '-e', 's,/usr/s\\?bin/,${TORCX_BINDIR}/,g',
      '-e', 's,^\\([^ ]*=\\)\\(.{TORCX_BINDIR}\\)/,\\1/usr/bin/env PATH=\\2:${PATH} \\2/,',
    ],
    { input: unit, stripFinalNewline: false },
  );
  return stdout;
}

/**
 * Flatcar's containerd unit before the rewrite (coreos-overlay app-emulation/containerd,
 * files/containerd-1.0.0.service, trimmed): its config path already goes through the Torcx
 * unpack dir, and /sbin/modprobe is outside the sed's reach.
 */
export const CONTAINERD_SERVICE = `[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target

[Service]
Delegate=yes
Environment=CONTAINERD_CONFIG=/usr/share/containerd/config.toml
ExecStartPre=mkdir -p /run/docker/libcontainerd
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/bin/containerd --config \${TORCX_UNPACKDIR}\${TORCX_IMAGEDIR}\${CONTAINERD_CONFIG}
KillMode=process
Type=notify

[Install]
WantedBy=multi-user.target
`;

/** Flatcar's docker unit before the rewrite (app-emulation/docker, files/docker.service, trimmed): a multi-value After=. */
export const DOCKER_SERVICE = `[Unit]
Description=Docker Application Container Engine
Documentation=http://docs.docker.com
After=containerd.service docker.socket network-online.target
Wants=network-online.target
Requires=containerd.service docker.socket

[Service]
Type=notify
EnvironmentFile=-/run/flannel/flannel_docker_opts.env
ExecStart=/usr/bin/dockerd --host=fd:// --containerd=/var/run/docker/libcontainerd/docker-containerd.sock $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID
Delegate=yes
KillMode=process

[Install]
WantedBy=multi-user.target
`;

/** docker's socket unit: no [Service], so only the [Unit] lines are added. */
export const DOCKER_SOCKET = `[Unit]
Description=Docker Socket for the API
PartOf=docker.service

[Socket]
ListenStream=/var/run/docker.sock
SocketMode=0660
SocketGroup=docker

[Install]
WantedBy=sockets.target
`;

/** The image manifest as app-torcx/docker/files/docker-20.10-manifest.json lays it out (trimmed). */
export const DOCKER_TORCX_MANIFEST = `${JSON.stringify(
  {
    kind: 'image-manifest-v0',
    value: {
      bin: ['/bin/containerd', '/bin/ctr', '/bin/docker', '/bin/docker-runc', '/bin/dockerd', '/bin/runc'],
      network: ['/lib/systemd/network/50-docker.network'],
      units: ['/lib/systemd/system/containerd.service', '/lib/systemd/system/docker.service', '/lib/systemd/system/docker.socket', '/lib/systemd/system/sockets.target.wants', '/lib/systemd/system/multi-user.target.wants'],
    },
  },
  null,
  4,
)}\n`;

export const DOCKER_NETWORK = '[Match]\nName=docker*\n\n[Network]\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n';

/**
 * A docker Torcx image laid out as build_torcx_store made them: binaries in bin/, flattened
 * libraries in lib/, units (rewritten) and network files under lib/systemd/, usr/share, the
 * enablement as .wants links, and the image manifest in .torcx/.
 */
export async function dockerTorcxEntries(arch: 'x86-64' | 'arm64' = 'x86-64'): Promise<TarEntrySpec[]> {
  const binary = (name: string): TarEntrySpec => ({ name: `./bin/${name}`, mode: 0o755, content: fakeElf(arch, `${name} torcx fixture`) });
  return [
    { name: './', type: 'directory' },
    { name: './.torcx/manifest.json', content: DOCKER_TORCX_MANIFEST },
    binary('containerd'),
    binary('ctr'),
    binary('docker'),
    binary('dockerd'),
    binary('runc'),
    { name: './bin/docker-runc', type: 'symlink', linkname: 'runc' },
    { name: './lib/libltdl.so.7.3.1', mode: 0o755, content: fakeElf(arch, 'libltdl') },
    { name: './lib/libltdl.so.7', type: 'symlink', linkname: 'libltdl.so.7.3.1' },
    { name: './lib/systemd/system/containerd.service', content: await torcxBuildRewrite(CONTAINERD_SERVICE, 'docker') },
    { name: './lib/systemd/system/docker.service', content: await torcxBuildRewrite(DOCKER_SERVICE, 'docker') },
    { name: './lib/systemd/system/docker.socket', content: await torcxBuildRewrite(DOCKER_SOCKET, 'docker') },
    { name: './lib/systemd/system/multi-user.target.wants/containerd.service', type: 'symlink', linkname: '../containerd.service' },
    { name: './lib/systemd/system/sockets.target.wants/docker.socket', type: 'symlink', linkname: '../docker.socket' },
    { name: './lib/systemd/network/50-docker.network', content: DOCKER_NETWORK },
    { name: './usr/share/containerd/config.toml', content: 'version = 2\n' },
  ];
}

/** Writes `entries` as a gzip tar, the format of NAME:REF.torcx.tgz. */
export function writeTorcxImage(file: string, entries: readonly TarEntrySpec[]): Promise<void> {
  return writeTar(file, entries, 'tar.gz');
}
