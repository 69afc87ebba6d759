import protobuf from 'protobufjs';

/**
 * The CrAU v1 container (flatcar/update_engine, update_metadata.proto): "CrAU", a big-endian
 * u64 format version, a big-endian u64 manifest length, the DeltaArchiveManifest, the data
 * blobs, then a Signatures message. The `.gz` suffix of payload names is historical: not gzip.
 */
export const MAGIC = Buffer.from('CrAU');
export const FORMAT_VERSION = 1n;
export const HEADER_SIZE = 20;
export const BLOCK_SIZE = 4096;
/** One operation per 1 MiB of image, as delta_generator writes full payloads. */
export const CHUNK_SIZE = 1024 * 1024;
export const CHUNK_BLOCKS = CHUNK_SIZE / BLOCK_SIZE;
/** RSA-2048: 256 signature bytes; each Signature entry in the message takes 264 bytes. */
export const RSA_2048_SIGNATURE_BYTES = 256;
export const SIGNATURE_ENTRY_BYTES = 264;
/** start_block of the dummy operation that marks the signature blob, so old clients skip it. */
export const SIGNATURE_DUMMY_BLOCK = 2n ** 64n - 1n;

export const OPERATION_TYPE = { REPLACE: 0, REPLACE_BZ: 1 } as const;

// The subset of update_metadata.proto that a full payload uses; field numbers are upstream's.
// proto2 on purpose: fields that are set are written even when zero (type REPLACE = 0, data_offset 0).
const PROTO = `
syntax = "proto2";
package chromeos_update_engine;
message Extent { optional uint64 start_block = 1; optional uint64 num_blocks = 2; }
message Signatures {
  message Signature { optional uint32 version = 1; optional bytes data = 2; }
  repeated Signature signatures = 1;
}
message PartitionInfo { optional uint64 size = 1; optional bytes hash = 2; }
message InstallOperation {
  enum Type { REPLACE = 0; REPLACE_BZ = 1; MOVE = 2; BSDIFF = 3; }
  required Type type = 1;
  optional uint32 data_offset = 2;
  optional uint32 data_length = 3;
  repeated Extent src_extents = 4;
  optional uint64 src_length = 5;
  repeated Extent dst_extents = 6;
  optional uint64 dst_length = 7;
  optional bytes data_sha256_hash = 8;
}
message DeltaArchiveManifest {
  repeated InstallOperation partition_operations = 1;
  repeated InstallOperation noop_operations = 2;
  optional uint32 block_size = 3 [default = 4096];
  optional uint64 signatures_offset = 4;
  optional uint64 signatures_size = 5;
  optional PartitionInfo old_partition_info = 8;
  optional PartitionInfo new_partition_info = 9;
}
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;
const ManifestType = root.lookupType('chromeos_update_engine.DeltaArchiveManifest');
const SignaturesType = root.lookupType('chromeos_update_engine.Signatures');

export interface Extent {
  start_block: bigint;
  num_blocks: bigint;
}

export interface InstallOperation {
  type: number;
  data_offset: number;
  data_length: number;
  dst_extents: Extent[];
  data_sha256_hash?: Buffer;
}

export interface PartitionInfo {
  size: bigint;
  hash: Buffer;
}

export interface Manifest {
  partition_operations: InstallOperation[];
  noop_operations: InstallOperation[];
  block_size: number;
  signatures_offset: bigint;
  signatures_size: bigint;
  new_partition_info?: PartitionInfo;
}

export interface Signature {
  version: number;
  data: Buffer;
}

export function encodeManifest(manifest: Manifest): Buffer {
  return Buffer.from(ManifestType.encode(ManifestType.fromObject(manifest)).finish());
}

const TO_OBJECT = { longs: BigInt, bytes: Buffer, arrays: true } as unknown as protobuf.IConversionOptions;

/** Throws protobufjs' own error for bytes that are not a manifest; callers name the file. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  const message = ManifestType.decode(bytes);
  const object = ManifestType.toObject(message, TO_OBJECT) as Record<string, unknown>;
  return {
    partition_operations: (object.partition_operations as InstallOperation[]).map(normalizeOperation),
    noop_operations: (object.noop_operations as InstallOperation[]).map(normalizeOperation),
    block_size: (object.block_size as number | undefined) ?? BLOCK_SIZE,
    signatures_offset: (object.signatures_offset as bigint | undefined) ?? 0n,
    signatures_size: (object.signatures_size as bigint | undefined) ?? 0n,
    ...(object.new_partition_info ? { new_partition_info: normalizePartition(object.new_partition_info as Partial<PartitionInfo>) } : {}),
  };
}

function normalizeOperation(op: Partial<InstallOperation>): InstallOperation {
  return {
    type: op.type ?? 0,
    data_offset: op.data_offset ?? 0,
    data_length: op.data_length ?? 0,
    dst_extents: (op.dst_extents ?? []).map((e) => ({ start_block: e.start_block ?? 0n, num_blocks: e.num_blocks ?? 0n })),
    ...(op.data_sha256_hash ? { data_sha256_hash: Buffer.from(op.data_sha256_hash) } : {}),
  };
}

function normalizePartition(info: Partial<PartitionInfo>): PartitionInfo {
  return { size: info.size ?? 0n, hash: Buffer.from(info.hash ?? []) };
}

export function encodeSignatures(signatures: readonly Signature[]): Buffer {
  return Buffer.from(SignaturesType.encode(SignaturesType.fromObject({ signatures })).finish());
}

export function decodeSignatures(bytes: Uint8Array): Signature[] {
  const object = SignaturesType.toObject(SignaturesType.decode(bytes), TO_OBJECT) as { signatures: Partial<Signature>[] };
  return object.signatures.map((s) => ({ version: s.version ?? 0, data: Buffer.from(s.data ?? []) }));
}

export function encodeHeader(manifestLength: number): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeBigUInt64BE(FORMAT_VERSION, 4);
  header.writeBigUInt64BE(BigInt(manifestLength), 12);
  return header;
}
