import { createHash, X509Certificate } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { inspectImage } from '../inspect.js';
import { requireTool } from '../tools.js';
import { readGpt, type GptPartition } from './gpt.js';

export class DdiVerifyError extends Error {
  override readonly name = 'DdiVerifyError';
}

/** GPT partition types of the Discoverable Partitions Specification, per architecture. */
const PARTITION_TYPES = {
  'x86-64': { root: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709', verity: '2c7357ed-ebd2-46d9-aec1-23d437ec2bf5', signature: '41092b05-9fc8-4523-994f-2def0408b176' },
  arm64: { root: 'b921b045-1df0-41c3-af44-4c6f280d3fae', verity: 'df3300ce-d69f-4c92-978c-9bfb0f38d820', signature: '6db69de6-29f4-4758-a7a5-962190f00ce3' },
} as const;

export interface DdiVerification {
  arch: keyof typeof PARTITION_TYPES;
  rootHash: string;
  /** sha256 of the signing certificate (DER), as the signature partition records it. */
  certificateSha256: string;
  /** Name from usr/lib/extension-release.d/extension-release.NAME */
  name: string;
  extensionRelease: Record<string, string>;
}

/**
 * Checks a signed sysext DDI offline, without device-mapper, the way a host enforcing
 * `verity+signed` would: the data partition against its dm-verity hash tree and root hash
 * (`veritysetup verify` on copies of the partitions), the PKCS#7 signature over the root hash
 * against `certFile` (openssl cms; systemd signs the root hash as its hex string, detached),
 * the partition UUIDs against the root hash, and the embedded extension-release.
 */
export async function verifyDdi(image: string, certFile: string): Promise<DdiVerification> {
  await Promise.all([requireTool('veritysetup'), requireTool('openssl')]);
  const cert = await readCertificate(certFile);
  const partitions = await readGpt(image).catch((error: Error) => {
    throw new DdiVerifyError(error.message);
  });
  const { arch, root, verity, signature } = findPartitions(image, partitions);
  const signed = await readSignaturePartition(image, signature);
  const rootHash = signed.rootHash;

  // systemd names the data and hash partitions after the two halves of the root hash.
  if (root.uuid.replaceAll('-', '') !== rootHash.slice(0, 32) || verity.uuid.replaceAll('-', '') !== rootHash.slice(32, 64))
    throw new DdiVerifyError(`${image}: the partition UUIDs do not derive from the signed root hash ${rootHash}; the partition table was altered`);
  if (signed.certificateFingerprint !== cert.sha256)
    throw new DdiVerifyError(`${image} was signed with the certificate whose sha256 is ${signed.certificateFingerprint}, not with ${certFile} (${cert.sha256})`);

  const work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-verify-'));
  try {
    const [dataFile, hashFile] = await Promise.all([
      copyRange(image, root, path.join(work, 'data')),
      copyRange(image, verity, path.join(work, 'hash')),
    ]);
    const veritysetup = await execa('veritysetup', ['verify', dataFile, hashFile, rootHash], { reject: false, all: true });
    if (veritysetup.exitCode !== 0)
      throw new DdiVerifyError(`${image}: the root partition does not match its dm-verity root hash ${rootHash} (veritysetup verify: ${veritysetup.all?.trim()}); the image was altered or damaged`);

    await writeFile(path.join(work, 'roothash'), rootHash);
    await writeFile(path.join(work, 'signature.p7s'), Buffer.from(signed.signature, 'base64'));
    const openssl = await execa(
      'openssl',
      ['cms', '-verify', '-binary', '-inform', 'DER', '-in', path.join(work, 'signature.p7s'), '-content', path.join(work, 'roothash'),
        // Only the given certificate may have signed, and it is the trust anchor itself, as in the kernel's keyring.
        '-nointern', '-certfile', certFile, '-CAfile', certFile, '-partial_chain', '-purpose', 'any', '-out', '/dev/null'],
      { reject: false, all: true },
    );
    if (openssl.exitCode !== 0)
      throw new DdiVerifyError(`${image}: the signature over root hash ${rootHash} does not verify with ${certFile} (openssl cms: ${openssl.all?.trim().split('\n')[0]})`);

    const info = await inspectImage(dataFile).catch((error: Error) => {
      throw new DdiVerifyError(`${image}: the root partition cannot be read as erofs: ${error.message}`);
    });
    const name = path.posix.basename(info.releaseFile).replace(/^extension-release\./, '');
    checkExtensionRelease(image, name, arch, info.extensionRelease);
    return { arch, rootHash, certificateSha256: cert.sha256, name, extensionRelease: info.extensionRelease };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function readCertificate(file: string): Promise<{ sha256: string }> {
  const text = await readFile(file).catch((error: Error) => {
    throw new DdiVerifyError(`--cert ${file}: ${error.message}`);
  });
  try {
    return { sha256: createHash('sha256').update(new X509Certificate(text).raw).digest('hex') };
  } catch {
    throw new DdiVerifyError(`--cert ${file} is not an X.509 certificate (PEM or DER)`);
  }
}

function findPartitions(image: string, partitions: GptPartition[]) {
  for (const [arch, types] of Object.entries(PARTITION_TYPES) as [keyof typeof PARTITION_TYPES, (typeof PARTITION_TYPES)[keyof typeof PARTITION_TYPES]][]) {
    const root = partitions.find((p) => p.type === types.root);
    if (!root) continue;
    const verity = partitions.find((p) => p.type === types.verity);
    const signature = partitions.find((p) => p.type === types.signature);
    if (!verity) throw new DdiVerifyError(`${image} has a root partition but no dm-verity hash partition: it is not verity-protected`);
    if (!signature) throw new DdiVerifyError(`${image} has no verity signature partition: it is not signed`);
    return { arch, root, verity, signature };
  }
  throw new DdiVerifyError(`${image} has no x86-64 or arm64 root partition: it is not a sysext DDI`);
}

interface SignaturePartition {
  rootHash: string;
  certificateFingerprint: string;
  signature: string;
}

/** The signature partition holds one JSON object, padded with NUL bytes. */
async function readSignaturePartition(image: string, partition: GptPartition): Promise<SignaturePartition> {
  const handle = await open(image, 'r');
  let text: string;
  try {
    const bytes = Buffer.alloc(Math.min(partition.size, 1024 * 1024));
    await handle.read(bytes, 0, bytes.length, partition.offset);
    text = bytes.toString('utf8').replace(/\0+$/, '');
  } finally {
    await handle.close();
  }
  let data: Partial<Record<keyof SignaturePartition, unknown>>;
  try {
    data = JSON.parse(text) as typeof data;
  } catch {
    throw new DdiVerifyError(`${image}: the signature partition does not hold JSON; it was altered or damaged`);
  }
  const { rootHash, certificateFingerprint, signature } = data;
  if (typeof rootHash !== 'string' || !/^[0-9a-f]{64}$/.test(rootHash) || typeof signature !== 'string' || typeof certificateFingerprint !== 'string')
    throw new DdiVerifyError(`${image}: the signature partition lacks "rootHash", "certificateFingerprint" or "signature"`);
  return { rootHash, certificateFingerprint, signature };
}

async function copyRange(image: string, partition: GptPartition, to: string): Promise<string> {
  await pipeline(createReadStream(image, { start: partition.offset, end: partition.offset + partition.size - 1 }), createWriteStream(to));
  return to;
}

function checkExtensionRelease(image: string, name: string, arch: string, release: Record<string, string>): void {
  const problems: string[] = [];
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) problems.push(`its name "${name}" is not an extension name`);
  const fileName = path.basename(image).replace(/\.raw$/, '');
  if (fileName !== name && !fileName.startsWith(`${name}-`)) problems.push(`the file is called ${path.basename(image)}, but the image says it is "${name}"`);
  if (release.ID !== 'flatcar' && release.ID !== '_any') problems.push(`ID is "${release.ID ?? ''}", expected "flatcar" or "_any"`);
  if (release.ID === 'flatcar' && release.SYSEXT_LEVEL === undefined && release.VERSION_ID === undefined) problems.push('it has neither SYSEXT_LEVEL nor VERSION_ID');
  if (release.ARCHITECTURE !== undefined && release.ARCHITECTURE !== arch) problems.push(`ARCHITECTURE=${release.ARCHITECTURE}, but the partitions are for ${arch}`);
  if (problems.length) throw new DdiVerifyError(`${image}: the embedded extension-release.${name} is not sane: ${problems.join('; ')}`);
}
