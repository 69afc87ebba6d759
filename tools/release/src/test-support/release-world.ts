import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { freshCheckout, REPO_ROOT, startFakeUpstreamApi, startServer, type FakeUpstreamApi, type LoopbackServer } from '@bakehouse/fixtures';
import { createSigningKey } from '@bakehouse/publish';

/** What a release test runs against: a checkout with its policy, the fake upstream, a Flatcar release server, a signing key. */
export interface ReleaseWorld {
  work: string;
  checkout: string;
  fake: FakeUpstreamApi;
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/**
 * A fresh checkout of the repository with `policy` as its release.yaml, the loopback fake
 * upstream and a Flatcar release server answering for stable 4230.2.1, a throw-away signing
 * key, and the environment that points a release at all of them (gzip builds, a private cache).
 */
export async function startReleaseWorld(policy: string, options: { versionTxt?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ReleaseWorld> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-release-'));
  const fake = await startFakeUpstreamApi();
  const versionTxt = options.versionTxt ?? 'FLATCAR_VERSION=4230.2.1\nFLATCAR_VERSION_ID=4230.2.1\n';
  const flatcarServer: LoopbackServer = await startServer((req, res) => {
    const found = req.url === '/stable/amd64-usr/current/version.txt';
    res.writeHead(found ? 200 : 404).end(found ? versionTxt : 'not found');
  });
  const gnupgHome = path.join(work, 'gnupg');
  await execa('mkdir', ['-m', '700', gnupgHome]);
  await createSigningKey({ gnupgHome, userId: 'Release test <release@bakehouse.invalid>' });
  const checkout = await freshCheckout(REPO_ROOT);
  await writeFile(path.join(checkout, 'release.yaml'), policy);
  const env = {
    ...process.env,
    ...fake.env,
    BAKEHOUSE_UPSTREAM_FLATCAR: `${flatcarServer.url}/{channel}`,
    GITHUB_TOKEN: '',
    GNUPGHOME: gnupgHome,
    BAKEHOUSE_CACHE_DIR: path.join(work, 'cache'),
    BAKEHOUSE_COMPRESSION: 'gzip',
    TURBO_TELEMETRY_DISABLED: '1',
    CI: '1',
    ...options.env,
  };
  return {
    work,
    checkout,
    fake,
    env,
    close: async () => {
      await fake.close();
      await flatcarServer.close();
      await Promise.all([work, checkout].map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}
