import { createHash, verify as verifySignature, type KeyObject } from 'node:crypto';
import { expandBzip2 } from './bzip2.js';
import { PayloadVerifyError, type VerifyFailure } from './errors.js';
import { decodeManifest, decodeSignatures, FORMAT_VERSION, HEADER_SIZE, MAGIC, OPERATION_TYPE, type Manifest, type Signature } from './format.js';

export interface VerifiedPayload {
  manifest: Manifest;
  /** Versions of the signatures that verified with one of the given keys. */
  verifiedSignatures: number[];
  /** The extracted image, whose sha256 is the manifest's new_partition_info.hash. */
  image: Buffer;
  sha256: string;
}

/**
 * The checks a Flatcar host runs before it installs a payload (ue-rs' download_sysext and
 * update_engine), in their order: magic and version; any one signature verifying with a
 * given key; exactly one destination extent per operation; each blob against its sha256;
 * the extracted image against new_partition_info. The first failure is what the host would
 * report; the later checks still run where the file parses, to say what broke.
 */
export async function verifyPayload(payload: Buffer, keys: readonly KeyObject[], file = 'payload'): Promise<VerifiedPayload> {
  const fail = (failures: VerifyFailure[]): never => {
    throw new PayloadVerifyError(file, failures);
  };
  const { manifest, manifestLength } = readHeader(payload, fail);
  const failures: VerifyFailure[] = [];

  const dataStart = HEADER_SIZE + manifestLength;
  const signedLength = dataStart + Number(manifest.signatures_offset);
  const { verified, problem } = checkSignatures(payload, manifest, signedLength, keys);
  if (problem) failures.push({ check: 'signature', message: problem });

  manifest.partition_operations.forEach((op, i) => {
    if (op.dst_extents.length !== 1) failures.push({ check: 'extents', message: `operation ${i} has ${op.dst_extents.length} destination extents; a full payload has exactly one per operation` });
  });

  const blobs: Buffer[] = [];
  manifest.partition_operations.forEach((op, i) => {
    const end = op.data_offset + op.data_length;
    if (dataStart + end > signedLength) {
      failures.push({ check: 'operations', message: `operation ${i}'s blob (offset ${op.data_offset}, ${op.data_length} bytes) runs past the data region (${manifest.signatures_offset} bytes)` });
      return;
    }
    const blob = payload.subarray(dataStart + op.data_offset, dataStart + end);
    blobs[i] = blob;
    if (op.type !== OPERATION_TYPE.REPLACE && op.type !== OPERATION_TYPE.REPLACE_BZ)
      failures.push({ check: 'operations', message: `operation ${i} has type ${op.type}; a full payload has only REPLACE (0) and REPLACE_BZ (1)` });
    else if (!op.data_sha256_hash) failures.push({ check: 'operations', message: `operation ${i} has no data_sha256_hash (update_engine requires one on every data operation)` });
    else if (!sha256(blob).equals(op.data_sha256_hash))
      failures.push({ check: 'operations', message: `operation ${i}'s data blob (offset ${op.data_offset}, ${op.data_length} bytes) has sha256 ${sha256(blob).toString('hex')}, the manifest says ${op.data_sha256_hash.toString('hex')}` });
  });

  const { image, problem: imageProblem } = await extract(manifest, blobs);
  if (imageProblem) failures.push({ check: 'image', message: imageProblem });
  if (failures.length > 0) fail(failures);
  return { manifest, verifiedSignatures: verified, image: image!, sha256: sha256(image!).toString('hex') };
}

function readHeader(payload: Buffer, fail: (failures: VerifyFailure[]) => never): { manifest: Manifest; manifestLength: number } {
  const header = (message: string) => fail([{ check: 'header', message }]);
  if (payload.length < HEADER_SIZE) header(`${payload.length} bytes: shorter than the ${HEADER_SIZE}-byte CrAU header`);
  if (!payload.subarray(0, 4).equals(MAGIC)) header(`magic is ${JSON.stringify(payload.subarray(0, 4).toString('latin1'))}, not "CrAU": not an update payload (it is not gzip either, whatever its name says)`);
  const version = payload.readBigUInt64BE(4);
  if (version !== FORMAT_VERSION) header(`file format version ${version}; Flatcar's clients read version ${FORMAT_VERSION} only`);
  const manifestLength = payload.readBigUInt64BE(12);
  if (manifestLength > BigInt(payload.length - HEADER_SIZE)) header(`the manifest length ${manifestLength} runs past the end of the ${payload.length}-byte file`);
  try {
    return { manifest: decodeManifest(payload.subarray(HEADER_SIZE, HEADER_SIZE + Number(manifestLength))), manifestLength: Number(manifestLength) };
  } catch (error) {
    return header(`the manifest (bytes ${HEADER_SIZE}..${HEADER_SIZE + Number(manifestLength)}) does not decode as a DeltaArchiveManifest: ${(error as Error).message}`);
  }
}

function checkSignatures(payload: Buffer, manifest: Manifest, signedLength: number, keys: readonly KeyObject[]): { verified: number[]; problem?: string } {
  const end = signedLength + Number(manifest.signatures_size);
  if (manifest.signatures_size === 0n) return { verified: [], problem: 'the manifest states no signatures (signatures_size 0): the payload is unsigned' };
  if (end > payload.length) return { verified: [], problem: `the signatures (offset ${manifest.signatures_offset}, ${manifest.signatures_size} bytes) run past the end of the ${payload.length}-byte file: truncated download?` };
  if (end < payload.length) return { verified: [], problem: `${payload.length - end} bytes follow the signatures (which end at ${end}): no payload writer adds them` };
  let signatures: Signature[];
  try {
    signatures = decodeSignatures(payload.subarray(signedLength, end));
  } catch (error) {
    return { verified: [], problem: `the Signatures message does not decode: ${(error as Error).message}` };
  }
  const region = payload.subarray(0, signedLength);
  const verified = signatures.filter((s) => keys.some((key) => verifySignature('sha256', region, key, s.data))).map((s) => s.version);
  if (verified.length > 0) return { verified };
  return {
    verified,
    problem: `none of the ${signatures.length} signature(s) (version ${signatures.map((s) => s.version).join(', ') || 'none'}) verifies with the given public key over the signed region (header, manifest, data; ${signedLength} bytes): signed with another key, or the payload was changed`,
  };
}

async function extract(manifest: Manifest, blobs: readonly (Buffer | undefined)[]): Promise<{ image?: Buffer; problem?: string }> {
  const info = manifest.new_partition_info;
  if (!info) return { problem: 'the manifest has no new_partition_info (size and sha256 of the image)' };
  const size = Number(info.size);
  const image = Buffer.alloc(size);
  for (const [i, op] of manifest.partition_operations.entries()) {
    const blob = blobs[i];
    const extent = op.dst_extents[0];
    if (!blob || !extent) return { problem: `operation ${i} cannot be applied, so the image cannot be extracted` };
    let data: Buffer;
    try {
      data = op.type === OPERATION_TYPE.REPLACE_BZ ? await expandBzip2(blob) : blob;
    } catch (error) {
      return { problem: `operation ${i}'s REPLACE_BZ blob does not bunzip2: ${(error as Error).message.split('\n')[0]}` };
    }
    const start = Number(extent.start_block) * manifest.block_size;
    if (data.length > Number(extent.num_blocks) * manifest.block_size || start + data.length > size)
      return { problem: `operation ${i} writes ${data.length} bytes at ${start}: past its extent or the image size ${size}` };
    data.copy(image, start);
  }
  const digest = sha256(image);
  if (!digest.equals(info.hash)) return { image, problem: `the extracted image (${size} bytes) has sha256 ${digest.toString('hex')}, new_partition_info says ${info.hash.toString('hex')}` };
  return { image };
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}
