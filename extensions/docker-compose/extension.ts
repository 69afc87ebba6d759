import { defineExtension } from '@bakehouse/schema';

export default defineExtension({
  name: 'docker-compose',
  description: 'Docker Compose v2, the `docker compose` CLI plugin, from the upstream release',
  category: 'container-runtimes',
  homepage: 'https://docs.docker.com/compose/',
  upstream: { type: 'github-releases', repo: 'docker/compose' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'docker-compose',
      kind: 'file',
      url: 'https://github.com/docker/compose/releases/download/v{version}/docker-compose-linux-{uname}',
      checksum: { from: 'sha256sums', url: 'https://github.com/docker/compose/releases/download/v{version}/checksums.txt' },
      // One of the directories the docker CLI searches for plugins, and the one Debian and Fedora use.
      extract: [{ to: '/usr/libexec/docker/cli-plugins/docker-compose', mode: 0o755 }],
    },
  ],
  release: { id: 'flatcar', compat: 'level' },
  // A plugin of the docker CLI: this catalog's docker, or Flatcar's own.
  requires: [{ anyOf: ['docker', 'docker-flatcar'] }],
  smoke: {
    commands: ['docker compose version'],
    workload: {
      commands: [
        'docker load -i "$BAKEHOUSE_TEST_IMAGE"',
        // A service from a compose file, on a published port, reached from the host; then torn down.
        'mkdir -p /tmp/compose-smoke && printf "services:\\n  web:\\n    image: %s\\n    command: [httpd, -f, -p, \\"80\\", -h, /www]\\n    ports: [\\"127.0.0.1:8081:80\\"]\\n" "$BAKEHOUSE_TEST_IMAGE_REF" > /tmp/compose-smoke/compose.yaml && docker compose -f /tmp/compose-smoke/compose.yaml -p smoke up -d',
        'for i in $(seq 30); do busybox wget -qO- http://127.0.0.1:8081/ | grep -x served-by-bakehouse-busybox && exit 0; sleep 1; done; exit 1',
        'test "$(docker compose -f /tmp/compose-smoke/compose.yaml -p smoke ps -q web | wc -l)" = 1',
        'docker compose -f /tmp/compose-smoke/compose.yaml -p smoke down && test -z "$(docker ps -q --filter label=com.docker.compose.project=smoke)"',
      ],
    },
  },
});
