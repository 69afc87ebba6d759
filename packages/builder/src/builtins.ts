/**
 * What Flatcar's built-in docker-flatcar and containerd-flatcar images offer their users, read
 * from Flatcar's own sources (flatcar/scripts: coreos-overlay/coreos/sysext/{docker,containerd}
 * and build_library/sysext_mangle_{docker,containerd}-flatcar). An image that declares
 * `replaces: [BUILTIN]` must keep every point, or existing Butane configs and drop-ins would
 * silently stop working on it. `bakehouse lint` checks these (see builtin-parity.ts).
 */
export type CustomizationPoint =
  | {
      /** A directive of a unit the manifest generates. */
      kind: 'directive';
      unit: string;
      section: string;
      key: string;
      /** Some value of the directive must match... */
      matches?: RegExp;
      /** ...and none may match this. */
      forbids?: RegExp;
      expect: string;
      why: string;
    }
  | { kind: 'file'; path: string; why: string }
  | { kind: 'sysusers'; matches: RegExp; expect: string; why: string };

const CONTAINERD_POINTS: CustomizationPoint[] = [
  {
    kind: 'directive',
    unit: 'containerd.service',
    section: 'Service',
    key: 'Environment',
    matches: /^CONTAINERD_CONFIG=\/usr\/share\/containerd\/config\.toml$/,
    expect: 'sets the default CONTAINERD_CONFIG=/usr/share/containerd/config.toml',
    why: 'a drop-in with Environment=CONTAINERD_CONFIG=… selects another config (Flatcar docs: 10-use-custom-config.conf; migrated nodes: config-cgroupfs.toml)',
  },
  {
    kind: 'directive',
    unit: 'containerd.service',
    section: 'Service',
    key: 'ExecStart',
    matches: /\s--config\s+(\$\{CONTAINERD_CONFIG\}|\$CONTAINERD_CONFIG)(\s|$)/,
    expect: 'passes --config ${CONTAINERD_CONFIG}',
    why: 'otherwise a CONTAINERD_CONFIG drop-in changes nothing',
  },
  {
    kind: 'directive',
    unit: 'containerd.service',
    section: 'Service',
    key: 'Environment',
    matches: /^PATH=(.*:)?\/opt\/bin(:|$)/,
    expect: 'puts /opt/bin on PATH',
    why: 'runtimes installed under /opt/bin (nvidia-container-runtime) are found by name',
  },
  {
    kind: 'directive',
    unit: 'containerd.service',
    section: 'Service',
    key: 'ExecStartPre',
    matches: /\/run\/containerd\/containerd\.sock\s+\/run\/docker\/libcontainerd\/docker-containerd\.sock$/,
    expect: 'links /run/docker/libcontainerd/docker-containerd.sock to the socket',
    why: "Flatcar's dockerd and tools written for it use the legacy socket path",
  },
  { kind: 'directive', unit: 'containerd.service', section: 'Service', key: 'Restart', matches: /^always$/, expect: 'is Restart=always', why: 'containerd comes back by itself, as on Flatcar' },
  {
    kind: 'directive',
    unit: 'containerd.service',
    section: 'Service',
    key: 'KillMode',
    matches: /^process$/,
    expect: 'is KillMode=process',
    why: 'stopping or restarting containerd leaves the container shims, so containers survive it',
  },
  { kind: 'directive', unit: 'containerd.service', section: 'Service', key: 'Delegate', matches: /^yes$/, expect: 'is Delegate=yes', why: 'systemd leaves the containers\' cgroups to containerd' },
  { kind: 'file', path: '/usr/share/containerd/config.toml', why: 'the default CONTAINERD_CONFIG, which Flatcar\'s docs tell users to copy to /etc/containerd/' },
  { kind: 'file', path: '/usr/share/containerd/config-cgroupfs.toml', why: 'the cgroupfs variant that 10-use-cgroupfs.conf drop-ins (nodes kept on cgroup v1) point CONTAINERD_CONFIG at' },
  {
    kind: 'file',
    path: '/usr/lib/systemd/system/multi-user.target.d/10-containerd-service.conf',
    why: "Flatcar's Upholds= drop-in name: a user's /etc/systemd/system/multi-user.target.d/10-containerd-service.conf overrides it (e.g. to keep containerd from starting)",
  },
];

const DOCKER_POINTS: CustomizationPoint[] = [
  ...['DOCKER_OPTS', 'DOCKER_SELINUX', 'DOCKER_CGROUPS', 'DOCKER_OPT_BIP', 'DOCKER_OPT_MTU', 'DOCKER_OPT_IPMASQ'].map(
    (variable): CustomizationPoint => ({
      kind: 'directive',
      unit: 'docker.service',
      section: 'Service',
      key: 'ExecStart',
      matches: new RegExp(`\\$(${variable}\\b|\\{${variable}\\})`),
      expect: `passes $${variable}`,
      why:
        variable === 'DOCKER_OPTS'
          ? "Flatcar's docs and kola's docker.userns add daemon options with Environment=DOCKER_OPTS=… drop-ins"
          : variable === 'DOCKER_SELINUX'
            ? 'Flatcar sets it to --selinux-enabled=true; drop-ins clear or change it'
            : 'flannel writes it to /run/flannel/flannel_docker_opts.env',
    }),
  ),
  {
    kind: 'directive',
    unit: 'docker.service',
    section: 'Service',
    key: 'Environment',
    matches: /^DOCKER_SELINUX=--selinux-enabled=true$/,
    expect: 'sets the default DOCKER_SELINUX=--selinux-enabled=true',
    why: "Flatcar's default, which SELinux hosts rely on (dockerd only warns where SELinux is off)",
  },
  {
    kind: 'directive',
    unit: 'docker.service',
    section: 'Service',
    key: 'EnvironmentFile',
    matches: /^-\/run\/flannel\/flannel_docker_opts\.env$/,
    expect: 'reads -/run/flannel/flannel_docker_opts.env',
    why: "flannel's docker options reach dockerd through it",
  },
  {
    kind: 'directive',
    unit: 'docker.service',
    section: 'Service',
    key: 'ExecStart',
    matches: /\s(--host=fd:\/\/|-H\s+fd:\/\/)(\s|$)/,
    forbids: /--config-file/,
    expect: 'listens on the sockets systemd passes (--host=fd://) and names no --config-file',
    why: 'extra sockets such as the docs\' docker-tcp.socket reach dockerd, and /etc/docker/daemon.json (dockerd\'s default) is read',
  },
  {
    kind: 'directive',
    unit: 'docker.service',
    section: 'Service',
    key: 'Restart',
    matches: /^on-failure$/,
    expect: 'is Restart=on-failure',
    why: "Flatcar's behaviour: a crashed dockerd comes back, a clean stop stays stopped",
  },
  { kind: 'directive', unit: 'docker.socket', section: 'Socket', key: 'ListenStream', matches: /^\/run\/docker\.sock$/, expect: 'listens on /run/docker.sock', why: 'the socket every docker client and kola test uses' },
  { kind: 'directive', unit: 'docker.socket', section: 'Socket', key: 'SocketGroup', matches: /^docker$/, expect: 'is owned by group docker', why: 'members of the docker group use docker without sudo' },
  {
    kind: 'file',
    path: '/usr/lib/systemd/system/sockets.target.d/10-docker-socket.conf',
    why: "Flatcar's Upholds= drop-in name: a user's /etc/systemd/system/sockets.target.d/10-docker-socket.conf overrides it",
  },
  { kind: 'sysusers', matches: /^g\s+docker\s+233(\s|$)/, expect: 'creates group docker with gid 233', why: "Flatcar's gid for docker: files and ACLs made on Flatcar keep their group" },
];

export const BUILTIN_CUSTOMIZATION_POINTS: Readonly<Record<string, readonly CustomizationPoint[]>> = {
  'containerd-flatcar': CONTAINERD_POINTS,
  'docker-flatcar': DOCKER_POINTS,
};
