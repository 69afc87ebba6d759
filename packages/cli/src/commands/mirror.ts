import { mirrorFlatcar, readPublicKey, FLATCAR_UPDATE_SERVER } from '@bakehouse/payload';

export interface MirrorFlatcarFlags {
  channel: string;
  version: string;
  board: string;
  to: string;
  from?: string;
  extensions?: string;
  oems?: string;
  updateKey: string;
  baseUrl: string;
}

const list = (value?: string) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** Copies one Flatcar release's official payloads for an air-gapped Nebraska, verified against Flatcar's update key. */
export async function runMirrorFlatcar(flags: MirrorFlatcarFlags): Promise<void> {
  const result = await mirrorFlatcar({
    channel: flags.channel,
    version: flags.version,
    board: flags.board,
    to: flags.to,
    from: flags.from ?? FLATCAR_UPDATE_SERVER,
    extensions: list(flags.extensions),
    oems: list(flags.oems),
    updateKey: await readPublicKey(flags.updateKey, '--update-key'),
    baseUrl: flags.baseUrl,
  });
  process.stdout.write(`${result.dir}: Flatcar ${flags.version} (${flags.channel}, ${flags.board}), every payload verified with ${flags.updateKey}\n`);
  for (const file of result.record.files) {
    const state = result.downloaded.includes(file.name) ? 'copied' : 'kept  ';
    process.stdout.write(`  ${state} ${file.name}  sha256 ${file.sha256}${file.publishedSha256 ? ' (matches the release server\'s)' : ' (no published sha256; its signature was checked)'}\n`);
  }
  process.stdout.write(`  nebraska-package.json and omaha-response.xml point at ${flags.baseUrl.replace(/\/+$/, '')}/${flags.board}/${flags.version}/\n`);
}
