import { defineExtension } from '@bakehouse/schema';

/** Everything in upstream's static bundle (docker-VERSION.tgz unpacks to docker/NAME). */
const BUNDLE = ['dockerd', 'docker', 'containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'docker-init', 'docker-proxy'];

/** containerd.service as in Flatcar's containerd-flatcar; the containerd extension has the same. */
const CONTAINERD_SERVICE = {
  Delegate: true,
  // /opt/bin for runtimes installed there (nvidia-container-runtime).
  Environment: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/opt/bin', 'CONTAINERD_CONFIG=/usr/share/containerd/config.toml'],
  ExecStartPre: [
    '-/sbin/modprobe overlay',
    // The socket path Flatcar's dockerd and tools written for it use.
    '/usr/bin/mkdir -p /run/docker/libcontainerd',
    '/usr/bin/ln -fs /run/containerd/containerd.sock /run/docker/libcontainerd/docker-containerd.sock',
  ],
  ExecStart: '/usr/bin/containerd --config ${CONTAINERD_CONFIG}',
  Type: 'notify',
  // KillMode=process: a stop or restart of containerd leaves the shims, so containers survive it.
  KillMode: 'process',
  Restart: 'always',
  RestartSec: 5,
  LimitNOFILE: 1048576,
  LimitNPROC: 'infinity',
  LimitCORE: 'infinity',
  TasksMax: 'infinity',
  OOMScoreAdjust: -999,
};

export default defineExtension({
  name: 'docker',
  description: 'Docker Engine with its own containerd and runc, from the upstream static bundle',
  category: 'container-runtimes',
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
  // Every customization point of Flatcar's docker-flatcar and containerd-flatcar (see README):
  // `replaces` makes `bakehouse lint` check them against packages/builder/src/builtins.ts.
  units: {
    'docker.service': {
      Unit: {
        Description: 'Docker Application Container Engine',
        Documentation: 'https://docs.docker.com',
        After: 'containerd.service docker.socket network-online.target',
        // Wants=, not Flatcar's Requires=containerd.service: Requires= would restart dockerd with
        // containerd, and dockerd stops its containers when it stops.
        Wants: 'network-online.target containerd.service',
        Requires: 'docker.socket',
        StartLimitBurst: 3,
        StartLimitIntervalSec: '60s',
      },
      Service: {
        Type: 'notify',
        EnvironmentFile: '-/run/flannel/flannel_docker_opts.env',
        // dockerd only warns where SELinux is off.
        Environment: ['DOCKER_SELINUX=--selinux-enabled=true', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/opt/bin'],
        // No --config-file: dockerd reads /etc/docker/daemon.json, which tmpfiles links to our default
        // unless the user put a file there.
        ExecStart:
          '/usr/bin/dockerd --host=fd:// --containerd=/run/containerd/containerd.sock $DOCKER_NVIDIA $DOCKER_SELINUX $DOCKER_OPTS $DOCKER_CGROUPS $DOCKER_OPT_BIP $DOCKER_OPT_MTU $DOCKER_OPT_IPMASQ',
        ExecReload: '/bin/kill -s HUP $MAINPID',
        LimitNOFILE: 1048576,
        LimitNPROC: 'infinity',
        LimitCORE: 'infinity',
        TasksMax: 'infinity',
        TimeoutStartSec: 0,
        Delegate: true,
        KillMode: 'process',
        Restart: 'on-failure',
        OOMScoreAdjust: -500,
      },
    },
    'docker.socket': {
      Unit: { Description: 'Docker Socket for the API', PartOf: 'docker.service' },
      Socket: { ListenStream: '/run/docker.sock', SocketMode: '0660', SocketUser: 'root', SocketGroup: 'docker' },
    },
    'containerd.service': {
      Unit: { Description: 'containerd container runtime (for Docker)', Documentation: 'https://containerd.io', After: 'network.target local-fs.target' },
      Service: CONTAINERD_SERVICE,
    },
  },
  // Started by the Upholds= drop-ins in files/, under Flatcar's names (10-docker-socket.conf,
  // 10-containerd-service.conf), so a user's drop-in of the same name in /etc overrides them.
  sysusers: ['g docker 233'],
  tmpfiles: ['d /etc/docker 0755 - - -', 'L /etc/docker/daemon.json - - - - /usr/share/docker/daemon.json'],
  release: { id: 'flatcar', compat: 'level' },
  replaces: ['docker-flatcar', 'containerd-flatcar'],
  conflicts: { extensions: ['containerd'], builtins: ['docker-flatcar', 'containerd-flatcar'] },
  smoke: {
    units: ['docker.socket', 'containerd.service'],
    commands: ['docker version'],
    workload: {
      commands: [
        'docker load -i "$BAKEHOUSE_TEST_IMAGE"',
        'test "$(docker run --rm "$BAKEHOUSE_TEST_IMAGE_REF" echo bakehouse-container-ok)" = bakehouse-container-ok',
        // A published port, reached from the host side through docker-proxy / NAT.
        'docker run -d --name web -p 127.0.0.1:8080:80 "$BAKEHOUSE_TEST_IMAGE_REF" httpd -f -p 80 -h /www && for i in $(seq 30); do busybox wget -qO- http://127.0.0.1:8080/ | grep -x served-by-bakehouse-busybox && exit 0; sleep 1; done; exit 1',
        // kola's docker.containerd-restart: containers outlive a containerd restart.
        'docker run -d --name survivor "$BAKEHOUSE_TEST_IMAGE_REF" sleep 3600 && systemctl restart containerd.service && sleep 5 && test "$(docker inspect -f "{{.State.Running}}" survivor)" = true && docker exec survivor true',
      ],
    },
  },
});
