import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReleaseIndexImage } from '@bakehouse/schema';
import { RegistryError, VerificationError } from './errors.js';
import { replaceAtomically } from './files.js';

/** The manifest's artifactType: a systemd-sysext image published by Bakehouse. */
export const SYSEXT_ARTIFACT_TYPE = 'application/vnd.bakehouse.sysext.v1';
/** The layer's media type names the image format: ...layer.v1.squashfs, ...layer.v1.erofs or ...layer.v1.ddi (signed). */
export const SYSEXT_LAYER_PREFIX = 'application/vnd.bakehouse.sysext.layer.v1.';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** The SBOM referrer's artifact type and layer type: SPDX JSON's IANA media type. */
export const SPDX_ARTIFACT_TYPE = 'application/spdx+json';
const EMPTY_CONFIG = Buffer.from('{}');
/** Annotation keys on the manifest, besides the standard org.opencontainers.image.* ones. */
export const ANNOTATION = {
  name: 'dev.bakehouse.sysext.name',
  version: 'dev.bakehouse.sysext.version',
  arch: 'dev.bakehouse.sysext.arch',
  sha256: 'dev.bakehouse.sysext.sha256',
  line: 'dev.bakehouse.sysext.line',
  /** Signed DDIs: the dm-verity root hash, and the sha256 (DER) of the certificate hosts need in /etc/verity.d/. */
  verityRootHash: 'dev.bakehouse.sysext.verity.roothash',
  verityCertificate: 'dev.bakehouse.sysext.verity.certificate-sha256',
} as const;
const TITLE = 'org.opencontainers.image.title';

export interface RegistryOptions {
  /** Plain HTTP (loopback or firewalled mirrors); also chosen by an http:// prefix on the reference. */
  insecure?: boolean;
  /** Basic credentials, sent to the registry or its token service when it asks. */
  username?: string;
  password?: string;
}

export interface Reference {
  scheme: 'http' | 'https';
  registry: string;
  repository: string;
  tag?: string;
}

/** REGISTRY/REPO[:TAG], optionally prefixed with http:// or https://. */
export function parseReference(text: string, options: RegistryOptions = {}): Reference {
  const scheme = text.startsWith('http://') || options.insecure ? 'http' : 'https';
  const rest = text.replace(/^https?:\/\//, '');
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new RegistryError(`"${text}" is not REGISTRY/REPOSITORY[:TAG] (e.g. registry.example.org/sysext/docker:28.5.2-x86-64)`);
  const registry = rest.slice(0, slash);
  let repository = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = repository.lastIndexOf(':');
  if (colon > 0) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
  }
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/.test(repository))
    throw new RegistryError(`"${repository}" in "${text}" is not a valid repository name (lowercase letters, digits, ".", "_", "-" and "/")`);
  if (tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(tag)) throw new RegistryError(`"${tag}" in "${text}" is not a valid tag`);
  return { scheme, registry, repository, ...(tag === undefined ? {} : { tag }) };
}

/** A request body, made afresh for each attempt (a stream can be read only once). */
type Body = () => Buffer | ReadableStream;

/** A small client for the OCI distribution API: answers 401 challenges (Bearer token or Basic) once, then retries. */
class RegistryClient {
  private authorization?: string;
  constructor(
    readonly ref: Reference,
    private readonly options: RegistryOptions,
  ) {}

  url(suffix: string): string {
    return `${this.ref.scheme}://${this.ref.registry}/v2/${this.ref.repository}/${suffix}`;
  }

  async request(url: string, init: Omit<RequestInit, 'body'> & { body?: Body } = {}, expected: number[] = [200]): Promise<Response> {
    const send = () => {
      const { body, ...rest } = init;
      const headers = new Headers(init.headers);
      if (this.authorization) headers.set('authorization', this.authorization);
      return fetch(url, { ...rest, headers, ...(body === undefined ? {} : { body: body(), duplex: 'half' }) } as RequestInit);
    };
    let response = await send().catch((error: Error) => {
      throw new RegistryError(`${init.method ?? 'GET'} ${url}: ${(error.cause as Error | undefined)?.message ?? error.message}${this.ref.scheme === 'https' ? ' (a plain-HTTP registry needs --insecure or an http:// prefix)' : ''}`);
    });
    // A token covers the scope the challenge asked for (pull for a HEAD, pull,push for an upload): ask again when it falls short.
    if (response.status === 401) {
      this.authorization = await this.authenticate(response.headers.get('www-authenticate') ?? '', url);
      response = await send();
    }
    if (!expected.includes(response.status))
      throw new RegistryError(`${init.method ?? 'GET'} ${url}: HTTP ${response.status} ${response.statusText}: ${(await response.text()).slice(0, 500)}`);
    return response;
  }

  private async authenticate(challenge: string, url: string): Promise<string> {
    const basic = this.options.username ? `Basic ${Buffer.from(`${this.options.username}:${this.options.password ?? ''}`).toString('base64')}` : undefined;
    if (/^basic/i.test(challenge)) {
      if (!basic) throw new RegistryError(`${url} needs credentials: set BAKEHOUSE_REGISTRY_USER and BAKEHOUSE_REGISTRY_PASSWORD`);
      return basic;
    }
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (!/^bearer/i.test(challenge) || !params.realm) throw new RegistryError(`${url}: unsupported authentication challenge "${challenge}"`);
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    tokenUrl.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull,push`);
    const response = await fetch(tokenUrl, { headers: basic ? { authorization: basic } : {} });
    if (!response.ok) throw new RegistryError(`token service ${tokenUrl.origin}${tokenUrl.pathname}: HTTP ${response.status}; check BAKEHOUSE_REGISTRY_USER and BAKEHOUSE_REGISTRY_PASSWORD`);
    const body = (await response.json()) as { token?: string; access_token?: string };
    return `Bearer ${body.token ?? body.access_token}`;
  }

  async pushBlob(digest: string, size: number, body: Body): Promise<void> {
    const head = await this.request(this.url(`blobs/${digest}`), { method: 'HEAD' }, [200, 404]);
    if (head.status === 200) return;
    const started = await this.request(this.url('blobs/uploads/'), { method: 'POST', headers: { 'content-length': '0' } }, [202]);
    const location = new URL(started.headers.get('location') ?? '', this.url('')).toString();
    const upload = new URL(location);
    upload.searchParams.set('digest', digest);
    await this.request(upload.toString(), { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) }, body }, [201]);
  }
}

export interface PushedArtifact {
  reference: string;
  digest: string;
  tags: string[];
  /** The SBOM's referrer manifest, and how the registry lists it: its referrers API, or the OCI 1.1 fallback tag sha256-HEX. */
  sbom?: { digest: string; listedBy: 'referrers-api' | { tag: string } };
}

type Descriptor = { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> };

/**
 * Pushes one image as an OCI artifact: an empty config, one layer that is the .raw itself, and
 * annotations naming it. Tagged VERSION-ARCH and latest-ARCH. The manifest holds no timestamp,
 * so pushing the same image again yields the same digest. With its SBOM (index entry `sbom`
 * and the file's bytes), that is pushed too, as a referrer of the image manifest (below).
 */
export async function pushImage(target: string, image: ReleaseIndexImage, file: string, options: RegistryOptions = {}, sbom?: Buffer): Promise<PushedArtifact> {
  const ref = parseReference(target, options);
  if (ref.tag) throw new RegistryError(`--oci takes REGISTRY/REPOSITORY without a tag ("${target}"): tags are VERSION-ARCH and latest-ARCH`);
  const client = new RegistryClient(ref, options);
  const { size } = await stat(file);
  const layerDigest = `sha256:${image.sha256}`;
  await client.pushBlob(layerDigest, size, () => Readable.toWeb(createReadStream(file)) as ReadableStream);
  const configDigest = `sha256:${createHash('sha256').update(EMPTY_CONFIG).digest('hex')}`;
  await client.pushBlob(configDigest, EMPTY_CONFIG.length, () => EMPTY_CONFIG);
  const fileName = path.posix.basename(image.path);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SYSEXT_ARTIFACT_TYPE,
    config: { mediaType: OCI_EMPTY, digest: configDigest, size: EMPTY_CONFIG.length, data: EMPTY_CONFIG.toString('base64') },
    layers: [{ mediaType: `${SYSEXT_LAYER_PREFIX}${image.format}`, digest: layerDigest, size, annotations: { [TITLE]: fileName } }],
    annotations: {
      [ANNOTATION.name]: image.extension,
      [ANNOTATION.version]: image.version,
      [ANNOTATION.arch]: image.arch,
      [ANNOTATION.sha256]: image.sha256,
      ...(image.line === undefined ? {} : { [ANNOTATION.line]: image.line }),
      ...(image.verity ? { [ANNOTATION.verityRootHash]: image.verity.rootHash, [ANNOTATION.verityCertificate]: image.verity.certificateSha256 } : {}),
      [TITLE]: fileName,
      'org.opencontainers.image.version': image.version,
    },
  };
  const body = Buffer.from(JSON.stringify(manifest));
  const tags = [`${image.version}-${image.arch}`, `latest-${image.arch}`].map((t) => t.replace(/[^\w.-]/g, '_'));
  for (const tag of tags) await client.request(client.url(`manifests/${tag}`), { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: () => body }, [201]);
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const subject: Descriptor = { mediaType: OCI_MANIFEST, digest, size: body.length };
  if (sbom && !image.sbom) throw new RegistryError(`${image.path}: an SBOM was given, but its index entry names none`);
  const pushedSbom = sbom && image.sbom ? await pushSbomReferrer(client, subject, configDigest, sbom, path.posix.basename(image.sbom.path)) : undefined;
  return { reference: `${ref.registry}/${ref.repository}`, digest, tags, ...(pushedSbom ? { sbom: pushedSbom } : {}) };
}

/**
 * The SBOM as an OCI 1.1 referrer: an artifact manifest (artifactType application/spdx+json, the
 * SPDX document as its one layer) whose `subject` is the image manifest, pushed by digest. A
 * registry with the referrers API says so with an OCI-Subject header and lists it itself; for one
 * without (Docker's distribution 2.x), the spec's fallback applies: an image index tagged
 * sha256-HEX (the subject's digest) that lists the referrers, updated without duplicates.
 */
async function pushSbomReferrer(client: RegistryClient, subject: Descriptor, configDigest: string, sbom: Buffer, fileName: string): Promise<NonNullable<PushedArtifact['sbom']>> {
  const layerDigest = `sha256:${createHash('sha256').update(sbom).digest('hex')}`;
  await client.pushBlob(layerDigest, sbom.length, () => sbom);
  const annotations = { [TITLE]: fileName };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SPDX_ARTIFACT_TYPE,
      config: { mediaType: OCI_EMPTY, digest: configDigest, size: EMPTY_CONFIG.length, data: EMPTY_CONFIG.toString('base64') },
      layers: [{ mediaType: SPDX_ARTIFACT_TYPE, digest: layerDigest, size: sbom.length, annotations }],
      subject,
      annotations,
    }),
  );
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  const put = await client.request(client.url(`manifests/${digest}`), { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: () => manifest }, [201]);
  if (put.headers.get('oci-subject') === subject.digest) return { digest, listedBy: 'referrers-api' };

  const tag = subject.digest.replace(':', '-');
  const existing = await client.request(client.url(`manifests/${tag}`), { headers: { accept: OCI_INDEX } }, [200, 404]);
  const index = existing.status === 200 ? ((await existing.json()) as { manifests?: Descriptor[] }) : { manifests: [] };
  const manifests = index.manifests ?? [];
  if (!manifests.some((m) => m.digest === digest)) {
    manifests.push({ mediaType: OCI_MANIFEST, digest, size: manifest.length, artifactType: SPDX_ARTIFACT_TYPE, annotations });
    const body = Buffer.from(JSON.stringify({ ...index, schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    await client.request(client.url(`manifests/${tag}`), { method: 'PUT', headers: { 'content-type': OCI_INDEX }, body: () => body }, [201]);
  }
  return { digest, listedBy: { tag } };
}

interface PulledManifest {
  artifactType?: string;
  layers?: { mediaType?: string; digest?: string; size?: number; annotations?: Record<string, string> }[];
  annotations?: Record<string, string>;
}

/**
 * Fetches REGISTRY/REPO:TAG into outDir under its title annotation, checking the blob against the
 * layer digest and the sha256 annotation. The file appears only complete and verified.
 */
export async function pullImage(source: string, outDir: string, options: RegistryOptions = {}): Promise<{ file: string; sha256: string }> {
  const ref = parseReference(source, options);
  if (!ref.tag) throw new RegistryError(`"${source}" has no tag: add one, e.g. :latest-x86-64 or :VERSION-ARCH`);
  const client = new RegistryClient(ref, options);
  const response = await client.request(client.url(`manifests/${ref.tag}`), { headers: { accept: OCI_MANIFEST } });
  const manifest = (await response.json()) as PulledManifest;
  const layer = manifest.layers?.[0];
  if (manifest.artifactType !== SYSEXT_ARTIFACT_TYPE || manifest.layers?.length !== 1 || !layer?.digest?.startsWith('sha256:'))
    throw new RegistryError(`${source} is not a sysext artifact (artifactType ${manifest.artifactType ?? 'none'}, expected ${SYSEXT_ARTIFACT_TYPE} with one layer)`);
  const expected = layer.digest.slice('sha256:'.length);
  const annotated = manifest.annotations?.[ANNOTATION.sha256];
  if (annotated !== expected) throw new VerificationError(`${source}: the layer digest ${layer.digest} does not match the ${ANNOTATION.sha256} annotation ${annotated ?? '(missing)'}`);
  const name = layer.annotations?.[TITLE] ?? manifest.annotations?.[TITLE];
  if (!name || name.includes('/') || name.startsWith('.')) throw new RegistryError(`${source}: the layer's ${TITLE} annotation "${name ?? ''}" is not a plain file name`);
  await mkdir(outDir, { recursive: true });
  const file = path.join(outDir, name);
  await replaceAtomically(file, async (partial) => {
    const blob = await client.request(client.url(`blobs/${layer.digest}`));
    const hash = createHash('sha256');
    await pipeline(
      Readable.fromWeb(blob.body as import('node:stream/web').ReadableStream),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(partial),
    );
    const actual = hash.digest('hex');
    if (actual !== expected) throw new VerificationError(`${source}: the downloaded image has sha256 ${actual}, expected ${expected}; nothing was written`);
  });
  return { file, sha256: expected };
}
