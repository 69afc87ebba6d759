import { defineExtension } from '@bakehouse/schema';

/** Everything in upstream's static bundle (docker-VERSION.tgz unpacks to docker/NAME). */
const BUNDLE = ['dockerd', 'docker', 'containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'docker-init', 'docker-proxy'];

export default defineExtension({
  name: 'docker',
  description: 'Docker Engine with its own containerd and runc, from the upstream static bundle',
  homepage: 'https://docs.docker.com/engine/',
  upstream: { type: 'docker-static-index', channel: 'stable' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'docker',
      kind: 'tar.gz',
      url: 'https://download.docker.com/linux/static/stable/{uname}/docker-{version}.tgz',
      // Upstream publishes no checksums for the static bundles: bump downloads and hashes them.
      checksum: { from: 'download' },
      extract: BUNDLE.map((binary) => ({ from: `docker/${binary}`, to: `/usr/bin/${binary}` })),
    },
  ],
  units: {
    'docker.service': {
      Unit: {
        Description: 'Docker Application Container Engine',
        Documentation: 'https://docs.docker.com',
        After: 'network-online.target docker.socket containerd.service',
        Wants: 'network-online.target containerd.service',
        Requires: 'docker.socket',
      },
      Service: {
        Type: 'notify',
        // Defaults live in /usr/share/docker/daemon.json; to change them, copy it to /etc/docker/ and point a drop-in there.
        ExecStart: '/usr/bin/dockerd --host=fd:// --containerd=/run/containerd/containerd.sock --config-file=/usr/share/docker/daemon.json',
        ExecReload: '/bin/kill -s HUP $MAINPID',
        TimeoutStartSec: 0,
        RestartSec: 2,
        Restart: 'always',
        LimitNOFILE: 'infinity',
        LimitNPROC: 'infinity',
        LimitCORE: 'infinity',
        TasksMax: 'infinity',
        Delegate: true,
        KillMode: 'process',
        OOMScoreAdjust: -500,
      },
    },
    'docker.socket': {
      Unit: { Description: 'Docker Socket for the API' },
      Socket: { ListenStream: '/run/docker.sock', SocketMode: '0660', SocketUser: 'root', SocketGroup: 'docker' },
    },
    'containerd.service': {
      Unit: { Description: 'containerd container runtime (for Docker)', Documentation: 'https://containerd.io', After: 'network.target local-fs.target' },
      Service: {
        ExecStartPre: '-/sbin/modprobe overlay',
        ExecStart: '/usr/bin/containerd --config /usr/share/containerd/config.toml',
        Type: 'notify',
        Delegate: true,
        KillMode: 'process',
        Restart: 'always',
        RestartSec: 5,
        LimitNPROC: 'infinity',
        LimitCORE: 'infinity',
        TasksMax: 'infinity',
        OOMScoreAdjust: -999,
      },
    },
  },
  enable: ['docker.socket', 'containerd.service'],
  sysusers: ['g docker -'],
  release: { id: 'flatcar', compat: 'level' },
  conflicts: { extensions: ['containerd'], builtins: ['docker-flatcar', 'containerd-flatcar'] },
  smoke: {
    units: ['docker.socket', 'containerd.service'],
    commands: ['docker version'],
  },
});
