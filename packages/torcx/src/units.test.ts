import { describe, expect, it } from 'vitest';
import { CONTAINERD_SERVICE, DOCKER_SERVICE, DOCKER_SOCKET, torcxBuildRewrite } from './test-support/torcx-image.js';
import { rewriteUnit } from './units.js';

describe('the fixtures carry Flatcar’s build-time rewrites', () => {
  it('containerd.service and docker.service get the exact lines build_torcx_store wrote', async () => {
    const containerd = await torcxBuildRewrite(CONTAINERD_SERVICE, 'docker');
    expect(containerd).toContain('[Unit]\nRequires=torcx.target\nAfter=torcx.target\nDescription=containerd container runtime\n');
    expect(containerd).toContain('[Service]\nEnvironmentFile=/run/metadata/torcx\nEnvironment=TORCX_IMAGEDIR=/docker\nDelegate=yes\n');
    expect(containerd).toContain('\nExecStart=/usr/bin/env PATH=${TORCX_BINDIR}:${PATH} ${TORCX_BINDIR}/containerd --config ${TORCX_UNPACKDIR}${TORCX_IMAGEDIR}${CONTAINERD_CONFIG}\n');
    expect(containerd).toContain('\nExecStartPre=-/sbin/modprobe overlay\n');
    const docker = await torcxBuildRewrite(DOCKER_SERVICE, 'docker');
    expect(docker).toContain('\nExecStart=/usr/bin/env PATH=${TORCX_BINDIR}:${PATH} ${TORCX_BINDIR}/dockerd --host=fd:// ');
    expect(docker).toContain('\nAfter=torcx.target\nDescription=Docker Application Container Engine\nDocumentation=http://docs.docker.com\nAfter=containerd.service docker.socket network-online.target\n');
  });
});

describe('rewriteUnit', () => {
  it('gives back docker.service and docker.socket exactly as they were before Torcx', async () => {
    for (const unit of [DOCKER_SERVICE, DOCKER_SOCKET]) {
      const rewrite = rewriteUnit(await torcxBuildRewrite(unit, 'docker'));
      expect(rewrite.text).toBe(unit);
      expect(rewrite.unresolved).toEqual([]);
    }
  });

  it('resolves containerd’s config path through the unpack dir to the plain /usr/share path', async () => {
    const rewrite = rewriteUnit(await torcxBuildRewrite(CONTAINERD_SERVICE, 'docker'));
    expect(rewrite.text).toBe(CONTAINERD_SERVICE.replace('${TORCX_UNPACKDIR}${TORCX_IMAGEDIR}${CONTAINERD_CONFIG}', '${CONTAINERD_CONFIG}'));
    expect(rewrite.changes).toEqual([
      'removed Requires=torcx.target',
      'removed After=torcx.target',
      'removed EnvironmentFile=/run/metadata/torcx',
      'removed Environment=TORCX_IMAGEDIR=/docker',
      'resolved /usr/bin/env PATH=${TORCX_BINDIR}:${PATH} prefix in ExecStart=',
      'resolved ${TORCX_UNPACKDIR}${TORCX_IMAGEDIR} in ExecStart=',
      'resolved ${TORCX_BINDIR} in ExecStart=',
    ]);
  });

  it('takes torcx.target out of multi-value lists as a token, keeping the rest and names that merely contain it', () => {
    const rewrite = rewriteUnit(
      '[Unit]\nAfter=network.target torcx.target  containerd.service\nWants=torcx.target\nRequires=torcx.target.d-helper.service\nAfter=my-torcx.target\nBefore=torcx.target\nAfter=\n',
    );
    expect(rewrite.text).toBe('[Unit]\nAfter=network.target containerd.service\nRequires=torcx.target.d-helper.service\nAfter=my-torcx.target\nBefore=torcx.target\nAfter=\n');
  });

  it('keeps other assignments on an Environment= line and the optional EnvironmentFile= of other files', () => {
    const rewrite = rewriteUnit('[Service]\nEnvironment="TORCX_IMAGEDIR=/docker" DOCKER_OPTS=--debug\nEnvironmentFile=-/run/metadata/torcx\nEnvironmentFile=-/run/flannel/opts.env\n');
    expect(rewrite.text).toBe('[Service]\nEnvironment=DOCKER_OPTS=--debug\nEnvironmentFile=-/run/flannel/opts.env\n');
  });

  it('reports what it cannot resolve, such as a path into another image’s unpack dir', async () => {
    const unit = '[Unit]\nDescription=wg\n\n[Service]\nExecStartPre=-/sbin/insmod ${TORCX_UNPACKDIR}/wireguard/lib/modules/wireguard.ko\n# ${TORCX_BINDIR} in a comment is fine\nExecStart=/usr/bin/wg-quick up wg0\n';
    const rewrite = rewriteUnit(await torcxBuildRewrite(unit, 'wireguard'));
    expect(rewrite.unresolved).toEqual(['ExecStartPre=-/sbin/insmod ${TORCX_UNPACKDIR}/wireguard/lib/modules/wireguard.ko']);
    expect(rewrite.text).toContain('\nExecStart=/usr/bin/wg-quick up wg0\n');
  });
});
