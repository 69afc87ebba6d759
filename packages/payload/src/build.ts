import { createHash, createSign, type KeyObject } from 'node:crypto';
import { compressBzip2 } from './bzip2.js';
import { PayloadError } from './errors.js';
import {
  BLOCK_SIZE,
  CHUNK_BLOCKS,
  CHUNK_SIZE,
  encodeHeader,
  encodeManifest,
  encodeSignatures,
  HEADER_SIZE,
  OPERATION_TYPE,
  RSA_2048_SIGNATURE_BYTES,
  SIGNATURE_DUMMY_BLOCK,
  SIGNATURE_ENTRY_BYTES,
  type InstallOperation,
  type Manifest,
} from './format.js';

export interface BuildPayloadOptions {
  /** RSA-2048 keys; the last is the real key (signature version 2), an earlier one gets version 1. */
  keys: readonly KeyObject[];
  /** Store each 1 MiB chunk as `bzip2 -9` output (REPLACE_BZ) where that is strictly smaller. */
  bzip2?: boolean;
}

/** data_offset/data_length are uint32 in update_metadata.proto: blobs past 4 GiB cannot be addressed. */
const MAX_BLOB_BYTES = 2 ** 32 - 1;

/**
 * A CrAU v1 full payload of `image`, byte for byte what Flatcar's delta_generator writes for
 * the same image: deterministic (no timestamps; bzip2 output depends only on its input).
 */
export async function buildPayload(image: Buffer, options: BuildPayloadOptions): Promise<Buffer> {
  if (image.length === 0 || image.length % BLOCK_SIZE !== 0)
    throw new PayloadError(`the image is ${image.length} bytes, not a positive multiple of ${BLOCK_SIZE}: update_engine writes whole 4 KiB blocks (squashfs/erofs images built by bakehouse are padded; pad with truncate -s %4096)`);
  if (options.keys.length < 1 || options.keys.length > 2) throw new PayloadError(`give one or two signing keys (--key), not ${options.keys.length}`);

  const operations: InstallOperation[] = [];
  const blobs: Buffer[] = [];
  let offset = 0;
  for (let start = 0; start < image.length; start += CHUNK_SIZE) {
    const chunk = image.subarray(start, Math.min(start + CHUNK_SIZE, image.length));
    const compressed = options.bzip2 ? await compressBzip2(chunk) : undefined;
    const useBz = compressed !== undefined && compressed.length < chunk.length;
    const blob = useBz ? compressed : chunk;
    operations.push({
      type: useBz ? OPERATION_TYPE.REPLACE_BZ : OPERATION_TYPE.REPLACE,
      data_offset: offset,
      data_length: blob.length,
      // 256 blocks even for a shorter last chunk, as delta_generator writes it.
      dst_extents: [{ start_block: BigInt(start / BLOCK_SIZE), num_blocks: BigInt(CHUNK_BLOCKS) }],
      data_sha256_hash: sha256(blob),
    });
    blobs.push(blob);
    offset += blob.length;
  }
  const signaturesSize = SIGNATURE_ENTRY_BYTES * options.keys.length;
  if (offset + signaturesSize > MAX_BLOB_BYTES) throw new PayloadError(`the payload's data would be ${offset} bytes: more than update_metadata.proto's 32-bit offsets address`);

  const manifest: Manifest = {
    partition_operations: operations,
    // The signature blob is described as an operation on a block no disk has, so it is never written.
    noop_operations: [{ type: OPERATION_TYPE.REPLACE, data_offset: offset, data_length: signaturesSize, dst_extents: [{ start_block: SIGNATURE_DUMMY_BLOCK, num_blocks: 1n }] }],
    block_size: BLOCK_SIZE,
    signatures_offset: BigInt(offset),
    signatures_size: BigInt(signaturesSize),
    new_partition_info: { size: BigInt(image.length), hash: sha256(image) },
  };
  const manifestBytes = encodeManifest(manifest);
  const signed = [encodeHeader(manifestBytes.length), manifestBytes, ...blobs];

  const signatures = options.keys.map((key, i) => ({ version: options.keys.length === 1 ? 2 : i + 1, data: sign(signed, key) }));
  const signatureBytes = encodeSignatures(signatures);
  if (signatureBytes.length !== signaturesSize) throw new PayloadError(`the signatures take ${signatureBytes.length} bytes, not the ${signaturesSize} the manifest states: a key is not RSA-2048`);
  return Buffer.concat([...signed, signatureBytes]);
}

/** Length of the region the signatures cover: header, manifest and every data blob. */
export function signedRegionLength(manifestLength: number, signaturesOffset: bigint): number {
  return HEADER_SIZE + manifestLength + Number(signaturesOffset);
}

function sign(parts: readonly Buffer[], key: KeyObject): Buffer {
  const signer = createSign('sha256');
  for (const part of parts) signer.update(part);
  const signature = signer.sign(key);
  if (signature.length !== RSA_2048_SIGNATURE_BYTES) throw new PayloadError(`a ${signature.length * 8}-bit signature: the key must be RSA-2048`);
  return signature;
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}
