import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

export interface TestKeys {
  key: string;
  pub: string;
  key2: string;
  pub2: string;
  /** Keys every payload build must refuse. */
  rsa1024: string;
  ec: string;
}

/** Fresh keys from openssl for each run: no key material lives in the repository. */
export async function generateKeys(dir: string): Promise<TestKeys> {
  const file = (name: string) => path.join(dir, name);
  await execa('openssl', ['genrsa', '-out', file('key.pem'), '2048']);
  await execa('openssl', ['genrsa', '-out', file('key2.pem'), '2048']);
  await execa('openssl', ['rsa', '-in', file('key.pem'), '-pubout', '-out', file('pub.pem')]);
  await execa('openssl', ['rsa', '-in', file('key2.pem'), '-pubout', '-out', file('pub2.pem')]);
  await execa('openssl', ['genrsa', '-out', file('rsa1024.pem'), '1024']);
  await execa('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file('ec.pem')]);
  return { key: file('key.pem'), pub: file('pub.pem'), key2: file('key2.pem'), pub2: file('pub2.pem'), rsa1024: file('rsa1024.pem'), ec: file('ec.pem') };
}

/** The two images of the reference's known answers. */
export const KNOWN_IMAGES = {
  zeros: Buffer.alloc(8192),
  mod251: Buffer.from(Array.from({ length: 1052672 }, (_, i) => i % 251)),
};

/** One node of `protoc --decode_raw` output: field number and either a scalar text or nested fields. */
export interface RawField {
  field: number;
  value?: string;
  children?: RawField[];
}

/** Decodes a protobuf message with Debian's protoc, which knows nothing of our schema. */
export async function decodeRaw(message: Buffer): Promise<RawField[]> {
  const { stdout } = await execa('protoc', ['--decode_raw'], { input: message });
  return parseDecodeRaw(stdout);
}

function parseDecodeRaw(text: string): RawField[] {
  const root: RawField[] = [];
  const stack: RawField[][] = [root];
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const top = stack[stack.length - 1]!;
    if (line === '}') stack.pop();
    else if (line.endsWith(' {')) {
      const node: RawField = { field: Number(line.slice(0, -2)), children: [] };
      top.push(node);
      stack.push(node.children!);
    } else {
      const colon = line.indexOf(': ');
      top.push({ field: Number(line.slice(0, colon)), value: line.slice(colon + 2) });
    }
  }
  return root;
}

/** protoc prints bytes as a C-escaped string; this turns it back into bytes. */
export function unescapeBytes(value: string): Buffer {
  const body = value.slice(1, -1);
  const out: number[] = [];
  const simple: Record<string, number> = { n: 10, r: 13, t: 9, '"': 34, "'": 39, '\\': 92 };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out.push(c.charCodeAt(0));
      continue;
    }
    const next = body[i + 1]!;
    if (/[0-7]/.test(next)) {
      const octal = /^[0-7]{1,3}/.exec(body.slice(i + 1))![0];
      out.push(parseInt(octal, 8));
      i += octal.length;
    } else {
      out.push(simple[next]!);
      i += 1;
    }
  }
  return Buffer.from(out);
}

/** A squashfs sysext image with one extension-release file, as bakehouse builds them (4 KiB padded). */
export async function makeSysext(dir: string, releaseName: string, release: Record<string, string>, payloadBytes = 0): Promise<string> {
  const root = path.join(dir, `${releaseName}-root`);
  await mkdir(path.join(root, 'usr/lib/extension-release.d'), { recursive: true });
  await writeFile(path.join(root, 'usr/lib/extension-release.d', `extension-release.${releaseName}`), Object.entries(release).map(([k, v]) => `${k}=${v}\n`).join(''));
  // Incompressible content spanning several 1 MiB chunks, so payloads have more than one operation.
  if (payloadBytes) await writeFile(path.join(root, 'usr/lib/blob'), Buffer.from(Array.from({ length: payloadBytes }, (_, i) => (i * 7919) % 256 ^ (i >> 9) % 256)));
  const image = path.join(dir, `${releaseName}.raw`);
  await execa('mksquashfs', [root, image, '-noappend', '-all-root', '-quiet', '-no-progress', '-mkfs-time', '0', '-all-time', '0']);
  return image;
}
