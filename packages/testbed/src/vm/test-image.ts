import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

/** The reference every runtime knows the test image by, once loaded. */
export const TEST_IMAGE_REF = 'localhost/busybox:testbed';

/** Where the guest finds the test image; probe commands see it as $BAKEHOUSE_TEST_IMAGE. */
export const TEST_IMAGE_PATH = '/var/lib/bakehouse-testbed/busybox.tar';

/** The applets the workload checks call inside containers. */
const APPLETS = ['sh', 'echo', 'cat', 'sleep', 'httpd', 'ls', 'id', 'mkdir', 'wget', 'true', 'printf'];

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** A tar layer: /bin/busybox with links for the applets, and the directories a runtime expects. */
async function layer(busybox: Buffer): Promise<Buffer> {
  const pack = tar.pack();
  const bytes = buffer(pack);
  const common = { uid: 0, gid: 0, mtime: new Date(0) };
  for (const dir of ['bin/', 'etc/', 'proc/', 'sys/', 'dev/', 'tmp/', 'var/', 'www/']) pack.entry({ ...common, name: dir, type: 'directory', mode: dir === 'tmp/' ? 0o1777 : 0o755 });
  pack.entry({ ...common, name: 'bin/busybox', mode: 0o755, size: busybox.length }, busybox);
  for (const applet of APPLETS) pack.entry({ ...common, name: `bin/${applet}`, type: 'symlink', linkname: 'busybox' });
  pack.entry({ ...common, name: 'etc/passwd', mode: 0o644 }, 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
  pack.entry({ ...common, name: 'etc/group', mode: 0o644 }, 'root:x:0:\nnobody:x:65534:\n');
  pack.entry({ ...common, name: 'www/index.html', mode: 0o644 }, 'served-by-bakehouse-busybox\n');
  pack.finalize();
  return bytes;
}

/**
 * Writes a one-layer container image of Debian's busybox-static as one archive that is both
 * an OCI image layout and a `docker save` archive (manifest.json), the way Docker 25+ saves:
 * `docker load`, `podman load` and `ctr image import` all read it, and no registry is needed.
 * Deterministic: the same busybox gives the same bytes.
 */
export async function writeTestImage(busyboxPath: string, out: string, arch: 'amd64' | 'arm64' = 'amd64'): Promise<void> {
  const layerTar = await layer(await readFile(busyboxPath));
  const layerDigest = sha256(layerTar);
  const config = JSON.stringify({
    architecture: arch,
    os: 'linux',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
  });
  const configDigest = sha256(config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configDigest}`, size: Buffer.byteLength(config) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layerTar.length }],
  });
  const manifestDigest = sha256(manifest);
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${manifestDigest}`,
      size: Buffer.byteLength(manifest),
      platform: { architecture: arch, os: 'linux' },
      annotations: { 'io.containerd.image.name': TEST_IMAGE_REF, 'org.opencontainers.image.ref.name': 'testbed' },
    }],
  });
  const dockerManifest = JSON.stringify([{ Config: `blobs/sha256/${configDigest}`, RepoTags: [TEST_IMAGE_REF], Layers: [`blobs/sha256/${layerDigest}`] }]);

  const pack = tar.pack();
  const common = { uid: 0, gid: 0, mtime: new Date(0), mode: 0o644 };
  const partial = `${out}.partial`;
  const written = pipeline(pack, createWriteStream(partial));
  pack.entry({ ...common, name: 'blobs/', type: 'directory', mode: 0o755 });
  pack.entry({ ...common, name: 'blobs/sha256/', type: 'directory', mode: 0o755 });
  pack.entry({ ...common, name: `blobs/sha256/${layerDigest}` }, layerTar);
  pack.entry({ ...common, name: `blobs/sha256/${configDigest}` }, config);
  pack.entry({ ...common, name: `blobs/sha256/${manifestDigest}` }, manifest);
  pack.entry({ ...common, name: 'index.json' }, index);
  pack.entry({ ...common, name: 'manifest.json' }, dockerManifest);
  pack.entry({ ...common, name: 'oci-layout' }, '{"imageLayoutVersion":"1.0.0"}');
  pack.finalize();
  try {
    await written;
    await rename(partial, out);
  } finally {
    await rm(partial, { force: true });
  }
}
