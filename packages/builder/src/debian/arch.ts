import type { Arch } from '@bakehouse/schema';

/** What Debian and the ELF files of one architecture call it, and where its glibc loader lives. */
export interface DebianArch {
  /** dpkg's architecture name, as in APT::Architecture and .deb file names. */
  debian: string;
  /** The multiarch triplet: libraries live in usr/lib/<triplet>. */
  triplet: string;
  /** e_machine in the ELF header. */
  elfMachine: number;
  /** File name of glibc's dynamic loader (the PT_INTERP of every dynamic executable). */
  loaderName: string;
  /** Where the ABI puts the loader besides the multiarch directory (/lib64 on x86-64, /lib on arm64). */
  abiLoaderDir: string;
  /**
   * Segment alignment patchelf uses when it adds a segment. Passed explicitly because patchelf
   * otherwise may use the build host's page size; 64 KiB is the largest arm64 kernel page, so
   * the result loads on 4K, 16K and 64K kernels alike.
   */
  pageSize: number;
}

export const DEBIAN_ARCH: Record<Arch, DebianArch> = {
  'x86-64': { debian: 'amd64', triplet: 'x86_64-linux-gnu', elfMachine: 0x3e, loaderName: 'ld-linux-x86-64.so.2', abiLoaderDir: 'lib64', pageSize: 0x1000 },
  arm64: { debian: 'arm64', triplet: 'aarch64-linux-gnu', elfMachine: 0xb7, loaderName: 'ld-linux-aarch64.so.1', abiLoaderDir: 'lib', pageSize: 0x10000 },
};

/** Closure-relative places the loader may be, best first: the real file in the multiarch directory, then the ABI paths. */
export function loaderCandidates(arch: DebianArch): string[] {
  return [`usr/lib/${arch.triplet}`, `lib/${arch.triplet}`, `usr/${arch.abiLoaderDir}`, arch.abiLoaderDir].map((dir) => `${dir}/${arch.loaderName}`);
}
