import { defineExtension } from '@bakehouse/schema';

export default defineExtension({
  name: 'docker-buildx',
  description: 'Docker Buildx, the `docker buildx` CLI plugin (BuildKit builds), from the upstream release',
  category: 'container-runtimes',
  homepage: 'https://docs.docker.com/build/',
  upstream: { type: 'github-releases', repo: 'docker/buildx' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'docker-buildx',
      kind: 'file',
      url: 'https://github.com/docker/buildx/releases/download/v{version}/buildx-v{version}.linux-{goarch}',
      checksum: { from: 'sha256sums', url: 'https://github.com/docker/buildx/releases/download/v{version}/checksums.txt' },
      extract: [{ to: '/usr/libexec/docker/cli-plugins/docker-buildx', mode: 0o755 }],
    },
  ],
  release: { id: 'flatcar', compat: 'level' },
  requires: [{ anyOf: ['docker', 'docker-flatcar'] }],
  smoke: {
    commands: ['docker buildx version'],
    workload: {
      commands: [
        'docker load -i "$BAKEHOUSE_TEST_IMAGE"',
        // A real BuildKit job on the default "docker" driver, offline: FROM the loaded image, one RUN step.
        'mkdir -p /tmp/buildx-smoke && printf "FROM %s\\nRUN echo built-by-buildx > /built\\n" "$BAKEHOUSE_TEST_IMAGE_REF" > /tmp/buildx-smoke/Dockerfile && docker buildx build --builder default -t localhost/buildx-smoke:testbed /tmp/buildx-smoke',
        'test "$(docker run --rm localhost/buildx-smoke:testbed cat /built)" = built-by-buildx',
      ],
    },
  },
});
