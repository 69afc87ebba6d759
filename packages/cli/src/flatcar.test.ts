import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startServer, type LoopbackServer } from '@bakehouse/fixtures';
import { main } from './main.js';

/** version.txt as Flatcar publishes it, per path below the server. */
const VERSION_FILES: Record<string, string> = {
  '/stable/amd64-usr/current/version.txt': 'FLATCAR_VERSION=4230.2.1\nFLATCAR_VERSION_ID=4230.2.1\nFLATCAR_BUILD_ID="2025-05-12-0815"\nFLATCAR_SDK_VERSION=4230.1.0\n',
  '/beta/amd64-usr/current/version.txt': 'FLATCAR_VERSION=4284.1.0\nFLATCAR_VERSION_ID=4284.1.0\nFLATCAR_BUILD_ID="2025-06-02-1120"\nFLATCAR_SDK_VERSION=4284.0.0\n',
  '/no-version/stable/amd64-usr/current/version.txt': 'FLATCAR_VERSION_ID=4230.2.1\nFLATCAR_SDK_VERSION=4230.1.0\n',
  '/bad-version/stable/amd64-usr/current/version.txt': '<html>maintenance</html>\nFLATCAR_VERSION=latest\n',
};

let server: LoopbackServer;
let root: string;
let stdout: string;
let stderr: string;

beforeAll(async () => {
  server = await startServer((req, res) => {
    const body = VERSION_FILES[req.url ?? ''];
    res.statusCode = body === undefined ? 404 : 200;
    res.end(body ?? 'not found');
  });
});
afterAll(() => server.close());

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'cli-flatcar-test-'));
  await writeFile(path.join(root, 'pnpm-workspace.yaml'), 'packages: []\n');
  vi.spyOn(process, 'cwd').mockReturnValue(root);
  vi.stubEnv('BAKEHOUSE_UPSTREAM_FLATCAR', `${server.url}/{channel}`);
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
});
afterEach(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  await rm(root, { recursive: true, force: true });
});

const bakehouse = (...args: string[]) => main(['node', 'bakehouse', 'flatcar', ...args]);
const flatcarJson = async () => JSON.parse(await readFile(path.join(root, 'flatcar.json'), 'utf8')) as unknown;
const writeFlatcarJson = (release: unknown) => writeFile(path.join(root, 'flatcar.json'), `${JSON.stringify(release, null, 2)}\n`);

describe('bakehouse flatcar latest', () => {
  it("prints each channel's own current version and the URL it came from", async () => {
    expect(await bakehouse('latest'), stderr).toBe(0);
    expect(stdout).toBe(`4230.2.1 (build 2025-05-12-0815)\n  from ${server.url}/stable/amd64-usr/current/version.txt\n`);

    stdout = '';
    expect(await bakehouse('latest', '--channel', 'beta'), stderr).toBe(0);
    expect(stdout).toBe(`4284.1.0 (build 2025-06-02-1120)\n  from ${server.url}/beta/amd64-usr/current/version.txt\n`);
  });

  it('takes channel and board from flatcar.json when no flag names them', async () => {
    await writeFlatcarJson({ channel: 'beta', version: '4284.0.0', board: 'amd64-usr' });
    expect(await bakehouse('latest'), stderr).toBe(0);
    expect(stdout).toMatch(/^4284\.1\.0 /);
  });

  it('--write updates flatcar.json, then a second run says nothing changed and leaves it alone', async () => {
    await writeFlatcarJson({ channel: 'stable', version: '4230.1.0', board: 'amd64-usr' });

    expect(await bakehouse('latest', '--write'), stderr).toBe(0);
    expect(stdout).toContain('flatcar.json: version 4230.1.0 → 4230.2.1\n');
    expect(await flatcarJson()).toEqual({ channel: 'stable', version: '4230.2.1', board: 'amd64-usr' });
    const written = await readFile(path.join(root, 'flatcar.json'), 'utf8');

    stdout = '';
    expect(await bakehouse('latest', '--write'), stderr).toBe(0);
    expect(stdout).toContain('flatcar.json: already 4230.2.1\n');
    expect(await readFile(path.join(root, 'flatcar.json'), 'utf8')).toBe(written);
  });

  it('--write creates flatcar.json when there is none, and names a channel change', async () => {
    expect(await bakehouse('latest', '--write'), stderr).toBe(0);
    expect(stdout).toContain('flatcar.json: created with stable 4230.2.1 (amd64-usr)\n');

    stdout = '';
    expect(await bakehouse('latest', '--write', '--channel', 'beta'), stderr).toBe(0);
    expect(stdout).toContain('flatcar.json: channel stable → beta, version 4230.2.1 → 4284.1.0\n');
    expect(await flatcarJson()).toEqual({ channel: 'beta', version: '4284.1.0', board: 'amd64-usr' });
  });

  it('refuses an unknown channel, listing the valid ones, without asking the server', async () => {
    const requestsBefore = server.requests.length;
    expect(await bakehouse('latest', '--channel', 'edge')).toBe(1);
    expect(stderr).toBe('bakehouse: unknown Flatcar channel "edge": expected one of stable, beta, alpha, lts\n');
    expect(server.requests.length).toBe(requestsBefore);
  });

  it('names the URL of a version.txt without FLATCAR_VERSION, or with one that is not a version', async () => {
    expect(await bakehouse('latest', '--upstream', `flatcar=${server.url}/no-version/{channel}`)).toBe(1);
    expect(stderr).toBe(`bakehouse: ${server.url}/no-version/stable/amd64-usr/current/version.txt: no FLATCAR_VERSION in this version.txt\n`);

    stderr = '';
    expect(await bakehouse('latest', '--upstream', `flatcar=${server.url}/bad-version/{channel}`, '--write')).toBe(1);
    expect(stderr).toBe(`bakehouse: ${server.url}/bad-version/stable/amd64-usr/current/version.txt: FLATCAR_VERSION "latest" is not a Flatcar version such as 4230.2.1\n`);
  });

  it('names the URL and status of an HTTP error, and writes nothing', async () => {
    await writeFlatcarJson({ channel: 'stable', version: '4230.1.0', board: 'arm64-usr' });
    expect(await bakehouse('latest', '--write')).toBe(1);
    expect(stderr).toBe(`bakehouse: GET ${server.url}/stable/arm64-usr/current/version.txt: HTTP 404 Not Found\n`);
    expect(await flatcarJson()).toEqual({ channel: 'stable', version: '4230.1.0', board: 'arm64-usr' });
  });

  it('names the URL when nothing listens there', async () => {
    const closed = await startServer(() => undefined);
    await closed.close();
    expect(await bakehouse('latest', '--upstream', `flatcar=${closed.url}/{channel}`)).toBe(1);
    expect(stderr).toMatch(new RegExp(`^bakehouse: GET ${closed.url}/stable/amd64-usr/current/version\\.txt failed: connect ECONNREFUSED .* \\(after 4 attempts\\)\\n$`));
  });

  it('refuses an --upstream flag for another site', async () => {
    expect(await bakehouse('latest', '--upstream', 'github=http://127.0.0.1:9')).toBe(1);
    expect(stderr).toBe('bakehouse: --upstream github=http://127.0.0.1:9: expected flatcar=URL (the only site Flatcar releases come from)\n');
  });
});

describe('bakehouse flatcar show', () => {
  it('prints the release flatcar.json names', async () => {
    await writeFlatcarJson({ channel: 'lts', version: '4081.3.6', board: 'arm64-usr' });
    expect(await bakehouse('show'), stderr).toBe(0);
    expect(stdout).toBe('channel  lts\nversion  4081.3.6\nboard    arm64-usr\n');
  });

  it('names the file and each field at fault', async () => {
    await writeFlatcarJson({ channel: 'stable', version: 'v4230', board: 'x86_64' });
    expect(await bakehouse('show')).toBe(1);
    expect(stderr).toMatch(/^bakehouse: flatcar\.json: invalid Flatcar release\n {2}- version: .*4230\.2\.1\n {2}- board: .*"amd64-usr"\|"arm64-usr"\n$/);
  });

  it('says how to create a missing flatcar.json', async () => {
    expect(await bakehouse('show')).toBe(1);
    expect(stderr).toBe('bakehouse: flatcar.json is missing: run bakehouse flatcar latest --write to create it\n');
  });
});
