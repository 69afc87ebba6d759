import { Document, Scalar } from 'yaml';
import { HOST_VERITY_DIR } from './certificates.js';
import { renderTransfer, transferName, type TransferOptions } from './sysupdate.js';

/** Where hosts look for the key that checks SHA256SUMS.gpg (systemd-sysupdate's import-pubring). */
export const HOST_PUBRING = '/etc/systemd/import-pubring.gpg';

export interface ProvisioningInput {
  extension: string;
  baseUrl: string;
  line?: string;
  /** The image to install: its tree-relative path (EXT/EXT-V-A.raw) and sha256. */
  image: { path: string; sha256: string };
  /** The binary public keyring in the tree and its sha256. */
  pubring: { path: string; sha256: string };
  /** Signed DDIs: the certificate in the tree (path, sha256 of the file) that hosts must trust from /etc/verity.d. */
  verityCertificate?: { path: string; sha256: string };
  /** Flatcar built-ins to mask with a /dev/null link. */
  maskBuiltins: readonly string[];
}

interface FileEntry {
  path: string;
  mode: number;
  source?: string;
  inline?: string;
  sha256?: string;
  overwrite?: boolean;
}

interface LinkEntry {
  path: string;
  target: string;
  overwrite?: boolean;
}

/** One description of what a host needs; Butane and Ignition are two renderings of it. */
interface UnitEntry {
  name: string;
  enabled?: boolean;
  dropins?: { name: string; contents: string }[];
}

function provisioning(input: ProvisioningInput): { files: FileEntry[]; links: LinkEntry[]; units: UnitEntry[] } {
  const { extension, baseUrl, line, image, pubring } = input;
  const imageFile = image.path.split('/').pop()!;
  const installed = `/opt/extensions/${extension}/${imageFile}`;
  const transfer: TransferOptions = { extension, baseUrl, ...(line === undefined ? {} : { line }) };
  return {
    files: [
      { path: installed, mode: 0o644, source: `${baseUrl}/${image.path}`, sha256: image.sha256 },
      { path: `/etc/sysupdate.${extension}.d/${transferName(extension, line)}.conf`, mode: 0o644, inline: renderTransfer(transfer) },
      // Another extension's snippet writes the same key: overwrite keeps merged configs valid.
      { path: HOST_PUBRING, mode: 0o644, source: `${baseUrl}/${pubring.path}`, sha256: pubring.sha256, overwrite: true },
      // Named by fingerprint, so snippets of images signed alike write the same file and merge cleanly.
      ...(input.verityCertificate
        ? [{ path: `${HOST_VERITY_DIR}/${input.verityCertificate.path.split('/').pop()!}`, mode: 0o644, source: `${baseUrl}/${input.verityCertificate.path}`, sha256: input.verityCertificate.sha256, overwrite: true }]
        : []),
    ],
    links: [
      { path: `/etc/extensions/${extension}.raw`, target: installed },
      ...[...input.maskBuiltins].sort().map((builtin) => ({ path: `/etc/extensions/${builtin}.raw`, target: '/dev/null', overwrite: true })),
    ],
    // The stock systemd-sysupdate.service updates only /etc/sysupdate.d; each component needs its own run,
    // and a new image is used only once systemd-sysext re-merges.
    units: [
      { name: 'systemd-sysupdate.timer', enabled: true },
      {
        name: 'systemd-sysupdate.service',
        dropins: [
          { name: `${extension}.conf`, contents: `[Service]\nExecStartPre=/usr/lib/systemd/systemd-sysupdate -C ${extension} update\n` },
          { name: 'sysext.conf', contents: '[Service]\nExecStartPost=/usr/bin/systemctl restart systemd-sysext\n' },
        ],
      },
    ],
  };
}

/** A Butane config (variant flatcar 1.0.0). */
export function renderButane(input: ProvisioningInput): string {
  const { files, links, units } = provisioning(input);
  const octal = (mode: number) => Object.assign(new Scalar(mode), { format: 'OCT' });
  const doc = new Document(
    {
      variant: 'flatcar',
      version: '1.0.0',
      storage: {
        files: files.map((f) => ({
          path: f.path,
          mode: f.mode,
          ...(f.overwrite ? { overwrite: true } : {}),
          contents: f.inline !== undefined ? { inline: f.inline } : { source: f.source, verification: { hash: `sha256-${f.sha256}` } },
        })),
        links: links.map((l) => ({ path: l.path, target: l.target, hard: false, ...(l.overwrite ? { overwrite: true } : {}) })),
      },
      systemd: { units },
    },
    { version: '1.1' },
  );
  // Butane users write modes in octal; YAML 1.1 renders OCT scalars as 0644.
  for (const file of (doc.getIn(['storage', 'files']) as { items: { set(key: string, value: unknown): void; get(key: string): unknown }[] }).items)
    file.set('mode', octal(Number(file.get('mode'))));
  return doc.toString({ lineWidth: 0 });
}

/** The Ignition config (spec 3.3.0) Butane translates renderButane's output to. */
export function renderIgnition(input: ProvisioningInput): string {
  const { files, links, units } = provisioning(input);
  const config = {
    ignition: { version: '3.3.0' },
    storage: {
      files: files.map((f) => ({
        path: f.path,
        ...(f.overwrite ? { overwrite: true } : {}),
        contents:
          f.inline !== undefined
            ? { compression: '', source: `data:,${encodeURIComponent(f.inline)}` }
            : { source: f.source, verification: { hash: `sha256-${f.sha256}` } },
        mode: f.mode,
      })),
      links: links.map((l) => ({ path: l.path, ...(l.overwrite ? { overwrite: true } : {}), hard: false, target: l.target })),
    },
    systemd: { units },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}
