import type { Arch } from '@bakehouse/schema';

/** e_machine of the architectures Flatcar runs on, as systemd names them in ARCHITECTURE=. */
const MACHINES: Record<number, Arch> = { 0x3e: 'x86-64', 0xb7: 'arm64' };

/** Bytes of a file needed to tell whether it is ELF and for which machine. */
export const ELF_HEADER_BYTES = 20;

/** undefined: not ELF. `machine` set and `arch` undefined: ELF for a machine Flatcar does not run on. */
export function elfMachine(header: Buffer): { machine: number; arch: Arch | undefined } | undefined {
  if (header.length < ELF_HEADER_BYTES || header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const machine = header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
  return { machine, arch: MACHINES[machine] };
}
