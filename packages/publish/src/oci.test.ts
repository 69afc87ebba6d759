import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type LoopbackRegistry } from '@bakehouse/fixtures';
import { collectBuiltImages, type BuiltImageFile } from './images.js';
import { ANNOTATION, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, pullImage, pushImage, SPDX_ARTIFACT_TYPE, SYSEXT_ARTIFACT_TYPE } from './oci.js';
import { buildTinyExtension } from './test-support/images.js';

let root: string;
let registry: LoopbackRegistry;
let images: BuiltImageFile[];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-oci-test-'));
  const [ext, started] = await Promise.all([buildTinyExtension(root, { name: 'hello', arch: ['x86-64', 'arm64'] }, [{ version: '1.2.3' }]), startRegistry()]);
  registry = started;
  images = await collectBuiltImages(ext);
});
afterAll(async () => {
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

describe('OCI artifacts', () => {
  it('pushes each image so that skopeo sees the artifact and copies the .raw out of it', async () => {
    for (const image of images) await pushImage(`http://${registry.host}/sysext/hello`, image.entry, image.file);
    const x86 = images.find((i) => i.entry.arch === 'x86-64')!;

    // `skopeo inspect` without --raw would try to read the config as an image config: an artifact has the empty one.
    const { stdout } = await execa('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/sysext/hello:1.2.3-x86-64`]);
    const manifest = JSON.parse(stdout);
    expect(manifest).toMatchObject({
      mediaType: OCI_MANIFEST,
      artifactType: SYSEXT_ARTIFACT_TYPE,
      config: { mediaType: OCI_EMPTY, size: 2 },
      layers: [{ mediaType: 'application/vnd.bakehouse.sysext.layer.v1.squashfs', digest: `sha256:${x86.entry.sha256}`, annotations: { 'org.opencontainers.image.title': 'hello-1.2.3-x86-64.raw' } }],
      annotations: { [ANNOTATION.name]: 'hello', [ANNOTATION.version]: '1.2.3', [ANNOTATION.arch]: 'x86-64', [ANNOTATION.sha256]: x86.entry.sha256 },
    });
    const { stdout: latest } = await execa('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/sysext/hello:latest-arm64`]);
    expect(JSON.parse(latest).annotations[ANNOTATION.arch]).toBe('arm64');

    const copy = path.join(root, 'skopeo-copy');
    await execa('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/sysext/hello:1.2.3-x86-64`, `dir:${copy}`]);
    expect(await sha256(path.join(copy, x86.entry.sha256))).toBe(x86.entry.sha256);
    expect(await readFile(path.join(copy, x86.entry.sha256))).toEqual(await readFile(x86.file));

    // Pushing again is a no-op with the same manifest digest.
    const first = await pushImage(`http://${registry.host}/sysext/hello`, x86.entry, x86.file);
    const second = await pushImage(`${registry.host}/sysext/hello`, x86.entry, x86.file, { insecure: true });
    expect(second.digest).toBe(first.digest);
    expect(second.tags).toEqual(['1.2.3-x86-64', 'latest-x86-64']);
  });

  it("attaches the SBOM as a referrer of the image manifest, which skopeo and the registry's referrers listing show", async () => {
    const x86 = images.find((i) => i.entry.arch === 'x86-64')!;
    expect(x86.sbom).toBeDefined();
    const target = `http://${registry.host}/sysext/hello`;
    const pushed = await pushImage(target, x86.entry, x86.file, {}, x86.sbom);
    expect(pushed.sbom).toBeDefined();

    // The referrer, as skopeo reads it by digest: the SPDX document as its layer, the image manifest as its subject.
    const { stdout } = await execa('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/sysext/hello@${pushed.sbom!.digest}`]);
    const { stdout: imageManifest } = await execa('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/sysext/hello:1.2.3-x86-64`]);
    const referrer = JSON.parse(stdout);
    expect(referrer).toMatchObject({
      mediaType: OCI_MANIFEST,
      artifactType: SPDX_ARTIFACT_TYPE,
      config: { mediaType: OCI_EMPTY },
      layers: [{ mediaType: SPDX_ARTIFACT_TYPE, digest: `sha256:${x86.entry.sbom!.sha256}`, size: x86.sbom!.length, annotations: { 'org.opencontainers.image.title': 'hello-1.2.3-x86-64.spdx.json' } }],
      subject: { mediaType: OCI_MANIFEST, digest: pushed.digest, size: Buffer.byteLength(imageManifest) },
    });
    expect(`sha256:${createHash('sha256').update(imageManifest).digest('hex')}`).toBe(pushed.digest);
    const blob = await fetch(`${registry.url}/v2/sysext/hello/blobs/sha256:${x86.entry.sbom!.sha256}`);
    expect(Buffer.from(await blob.arrayBuffer())).toEqual(x86.sbom);

    // Debian's registry (distribution 2.8) predates the referrers API (404); then the OCI 1.1 fallback tag sha256-HEX lists the referrer.
    const api = await fetch(`${registry.url}/v2/sysext/hello/referrers/${pushed.digest}`, { headers: { accept: OCI_INDEX } });
    const fallbackTag = pushed.digest.replace(':', '-');
    const listed = async (): Promise<{ manifests: { digest: string; artifactType?: string }[] }> => {
      if (api.status === 200) return (await (await fetch(`${registry.url}/v2/sysext/hello/referrers/${pushed.digest}`, { headers: { accept: OCI_INDEX } })).json()) as { manifests: { digest: string; artifactType?: string }[] };
      const { stdout: index } = await execa('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/sysext/hello:${fallbackTag}`]);
      expect(JSON.parse(index).mediaType).toBe(OCI_INDEX);
      return JSON.parse(index);
    };
    if (api.status === 200) expect(pushed.sbom!.listedBy).toBe('referrers-api');
    else {
      expect(api.status).toBe(404);
      expect(pushed.sbom!.listedBy).toEqual({ tag: fallbackTag });
    }
    const spdxReferrers = async () => (await listed()).manifests.filter((m) => m.artifactType === SPDX_ARTIFACT_TYPE).map((m) => m.digest);
    expect(await spdxReferrers()).toEqual([pushed.sbom!.digest]);

    // Pushing again lists the same referrer once.
    const again = await pushImage(target, x86.entry, x86.file, {}, x86.sbom);
    expect(again.sbom).toEqual(pushed.sbom);
    expect(await spdxReferrers()).toEqual([pushed.sbom!.digest]);
  });

  it('pulls an image back, verified, under its own file name', async () => {
    const out = path.join(root, 'pulled');
    const pulled = await pullImage(`http://${registry.host}/sysext/hello:latest-arm64`, out);
    const arm = images.find((i) => i.entry.arch === 'arm64')!;
    expect(pulled.file).toBe(path.join(out, 'hello-1.2.3-arm64.raw'));
    expect(await sha256(pulled.file)).toBe(arm.entry.sha256);
  });

  it('fails clearly and writes nothing when the layer digest and the sha256 annotation disagree, or the tag is missing', async () => {
    await retagWithWrongAnnotation(images.find((i) => i.entry.arch === 'x86-64')!.entry.sha256);
    const out = path.join(root, 'refused');
    await expect(pullImage(`http://${registry.host}/sysext/hello:tampered`, out)).rejects.toThrow(/does not match the dev\.bakehouse\.sysext\.sha256 annotation/);
    expect(await readdir(out).catch(() => [])).toEqual([]);
    await expect(pullImage(`http://${registry.host}/sysext/hello:no-such-tag`, out)).rejects.toThrow(/no-such-tag: HTTP 404/);
    expect(await readdir(out).catch(() => [])).toEqual([]);
  });
});

/** Re-tags the x86-64 manifest as :tampered with a sha256 annotation that is not the layer's. */
async function retagWithWrongAnnotation(layerSha: string): Promise<void> {
  const { stdout } = await execa('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/sysext/hello:1.2.3-x86-64`]);
  const manifest = JSON.parse(stdout);
  manifest.annotations[ANNOTATION.sha256] = layerSha.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  const response = await fetch(`${registry.url}/v2/sysext/hello/manifests/tampered`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: JSON.stringify(manifest) });
  expect(response.status).toBe(201);
}

describe('OCI artifacts behind token auth', () => {
  let secured: LoopbackRegistry;
  const credentials = { username: 'publisher', password: 'sesame' };
  beforeAll(async () => {
    secured = await startRegistry({ tokenAuth: credentials });
  });
  afterAll(async () => {
    await secured?.close();
  });

  it('gets Bearer tokens with Basic credentials to push and pull, and says what is missing without them', async () => {
    const image = images[0]!;
    const target = `http://${secured.host}/sysext/hello`;
    await expect(pushImage(target, image.entry, image.file)).rejects.toThrow(/token service .*HTTP 401; check BAKEHOUSE_REGISTRY_USER and BAKEHOUSE_REGISTRY_PASSWORD/);
    await expect(pushImage(target, image.entry, image.file, { username: 'publisher', password: 'wrong' })).rejects.toThrow(/HTTP 401/);
    await pushImage(target, image.entry, image.file, credentials);
    expect(secured.tokenRequests.some((q) => decodeURIComponent(q).includes('scope=repository:sysext/hello:pull,push'))).toBe(true);

    const out = path.join(root, 'pulled-with-token');
    const pulled = await pullImage(`${target}:${image.entry.version}-${image.entry.arch}`, out, credentials);
    expect(await sha256(pulled.file)).toBe(image.entry.sha256);
  });
});
