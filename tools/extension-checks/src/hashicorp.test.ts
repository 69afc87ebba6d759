import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { elfArch, fixtureBuildEnv, hashicorpUpstream, mergeSysext, readFromImage, REPO_ROOT, runBakehouse, scratchWorkspace, serveDirectory, wasmtimeUpstream, type LoopbackServer } from '@bakehouse/fixtures';
import { inspectImage } from '@bakehouse/builder';
import { bootTestbed, ensureTestbedRoot } from '@bakehouse/testbed';

/**
 * consul, nomad, vault (releases.hashicorp.com zips) and wasmtime (GitHub tarball), built from
 * fixtures with upstream's exact layout. The real binaries cannot be had here: their dev-mode
 * and .wasm checks are declared in each manifest's smoke.commands and run on real builds.
 */
const FLATCAR = { ID: 'flatcar', VERSION_ID: '4230.2.1', SYSEXT_LEVEL: '1.0' };
const VERSIONS = { consul: '2.0.2', nomad: '2.0.4', vault: '2.0.3' } as const;
const WASMTIME = '0.40.1';
const HASHICORP = Object.keys(VERSIONS) as (keyof typeof VERSIONS)[];
/** HashiCorp's release key, as https://www.hashicorp.com/security documents it. */
const HASHICORP_FINGERPRINT = 'C874011F0AB405110D02105534365D9472D7468F';

let work: string;
let workspace: string;
let upstream: LoopbackServer;
const image = (name: string, version: string, arch: string) => path.join(workspace, 'extensions', name, 'dist', `${name}-${version}-${arch}.raw`);

async function manifestOf(name: string): Promise<{ smoke: { commands: string[]; workload?: { commands: string[] } } }> {
  return (await import(path.join(REPO_ROOT, 'extensions', name, 'extension.ts'))).default;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'hashicorp-check-'));
  const site = path.join(work, 'site');
  upstream = await serveDirectory(site);
  const env = await fixtureBuildEnv(work, { ...(await hashicorpUpstream(site, upstream.url, VERSIONS)), ...(await wasmtimeUpstream(site, upstream.url, WASMTIME)) });
  workspace = await scratchWorkspace([...HASHICORP, 'wasmtime']);
  const result = await runBakehouse(['build', ...HASHICORP, 'wasmtime'], { cwd: workspace, env });
  expect(result.exitCode, result.all).toBe(0);
}, 300_000);

afterAll(async () => {
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
  await rm(workspace, { recursive: true, force: true });
});

describe('consul, nomad and vault', () => {
  it('merge together: each binary runs, units and sysusers pass systemd-analyze verify, every unit can be enabled and is conditioned on its config', async () => {
    const result = await mergeSysext({
      images: Object.fromEntries(HASHICORP.map((name) => [name, image(name, VERSIONS[name], 'x86-64')])),
      osRelease: FLATCAR,
      hostUsr: true,
      probe: [
        ...HASHICORP.map((name) => `"$ROOT/usr/bin/${name}"`),
        'systemd-analyze verify --root="$ROOT" consul.service consul-user.service nomad.service vault.service vault-user.service >/dev/null 2>&1; echo "verify=$?"',
        'for name in consul nomad vault; do systemctl --root="$ROOT" cat "$name.service" 2>/dev/null || cat "$ROOT/usr/lib/systemd/system/$name.service"; done',
        'cat "$ROOT"/usr/lib/sysusers.d/*.conf',
      ].join('; '),
    });
    expect(result.listed.sort()).toEqual([...HASHICORP].sort());
    expect(result.files).toEqual(expect.arrayContaining(HASHICORP.flatMap((name) => [`usr/bin/${name}`, `usr/lib/systemd/system/${name}.service`])));
    // Not started by the image: an Upholds= drop-in would retry a unit skipped on its condition forever.
    expect(result.files.filter((file) => file.includes('.target.d/'))).toEqual([]);
    // Upstream's zips carry LICENSE.txt beside the binary; only the binary is taken.
    expect(result.files.filter((file) => file.includes('LICENSE'))).toEqual([]);
    for (const name of HASHICORP) expect(result.probeOutput).toContain(`${name} ${VERSIONS[name]} fixture`);
    expect(result.probeOutput).toContain('verify=0');
    const units = result.probeOutput;
    expect(units).toContain('ExecStart=/usr/bin/consul agent -config-dir=/etc/consul.d -data-dir=/var/lib/consul');
    expect(units).toContain('ConditionDirectoryNotEmpty=/etc/consul.d');
    expect(units).toContain('ExecStart=/usr/bin/nomad agent -config=/etc/nomad.d -data-dir=/var/lib/nomad');
    expect(units).toContain('ConditionDirectoryNotEmpty=/etc/nomad.d');
    expect(units).toContain('ExecStart=/usr/bin/vault server -config=/etc/vault.d/vault.hcl');
    expect(units).toContain('ConditionPathExists=/etc/vault.d/vault.hcl');
    expect(units.match(/^WantedBy=multi-user\.target$/gm)).toHaveLength(3);
    expect(units).toMatch(/StateDirectory=consul[\s\S]*StateDirectory=nomad[\s\S]*StateDirectory=vault/);
    expect(units).toMatch(/^u consul - "HashiCorp Consul" \/var\/lib\/consul$/m);
    expect(units).toMatch(/^u vault - "HashiCorp Vault" \/var\/lib\/vault$/m);
  });

  it.each(HASHICORP)('%s: the arm64 image carries ARCHITECTURE=arm64 and an aarch64 binary', async (name) => {
    const arm64 = image(name, VERSIONS[name], 'arm64');
    expect((await inspectImage(arm64)).extensionRelease.ARCHITECTURE).toBe('arm64');
    expect(elfArch(await readFromImage(arm64, `/usr/bin/${name}`))).toBe('arm64');
    expect(elfArch(await readFromImage(image(name, VERSIONS[name], 'x86-64'), `/usr/bin/${name}`))).toBe('x86-64');
  });

  it("each key file is HashiCorp's release key, the same in all three", async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'hashicorp-key-'));
    try {
      const keys = await Promise.all(HASHICORP.map((name) => readFile(path.join(REPO_ROOT, 'extensions', name, 'keys/hashicorp.asc'))));
      expect(new Set(keys.map((key) => key.toString())).size).toBe(1);
      const { stdout } = await execa('gpg', ['--homedir', home, '--batch', '--with-colons', '--import-options', 'show-only', '--import'], { input: keys[0] });
      const primary = stdout.split('\n').findIndex((line) => line.startsWith('pub:'));
      expect(stdout.split('\n')[primary + 1]).toBe(`fpr:::::::::${HASHICORP_FINGERPRINT}:`);
      expect(stdout).toContain('HashiCorp Security (hashicorp.com/security) <security@hashicorp.com>');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('lint passes, and fails naming the key file when one is missing', async () => {
    expect((await runBakehouse(['lint'], { cwd: workspace })).exitCode).toBe(0);
    const key = path.join(workspace, 'extensions/vault/keys/hashicorp.asc');
    const original = await readFile(key);
    await rm(key);
    try {
      const result = await runBakehouse(['lint'], { cwd: workspace });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('extensions/vault/extension.ts: inputs[0].checksum.key: keys/hashicorp.asc (relative to the manifest) is missing or empty');
    } finally {
      await writeFile(key, original);
    }
  });

  it.each(HASHICORP)('%s: the lock pins say they are not verified yet (so bump verifies the signed list), and the dev-mode checks are valid shell', async (name) => {
    const lock = JSON.parse(await readFile(path.join(REPO_ROOT, 'extensions', name, 'extension.lock.json'), 'utf8'));
    expect(lock.images[0].inputs[name]).toMatchObject({ version: lock.images[0].version, checksum: 'upstream' });
    const { smoke } = await manifestOf(name);
    const dev = { consul: /consul agent -dev[\s\S]*consul members/, nomad: /nomad agent -dev[\s\S]*nomad node status/, vault: /vault server -dev[\s\S]*vault status/ }[name];
    const commands = [...smoke.commands, ...(smoke.workload?.commands ?? [])];
    expect(commands.join('\n')).toMatch(dev);
    for (const command of commands) expect((await execa('sh', ['-n', '-c', command], { reject: false })).exitCode, command).toBe(0);
  });
});

describe('wasmtime', () => {
  it('the image holds the binary from the tarball\'s top directory, for both arches', async () => {
    const result = await mergeSysext({ images: { wasmtime: image('wasmtime', WASMTIME, 'x86-64') }, osRelease: FLATCAR, hostUsr: true, probe: '"$ROOT/usr/bin/wasmtime"' });
    expect(result.listed).toEqual(['wasmtime']);
    expect(result.files).toEqual(['usr/bin/wasmtime', 'usr/lib/extension-release.d/extension-release.wasmtime']);
    expect(result.probeOutput).toContain(`wasmtime ${WASMTIME} fixture`);
    const arm64 = image('wasmtime', WASMTIME, 'arm64');
    expect((await inspectImage(arm64)).extensionRelease.ARCHITECTURE).toBe('arm64');
    expect(elfArch(await readFromImage(arm64, '/usr/bin/wasmtime'))).toBe('arm64');
  });

  it('the smoke check writes exactly the module wat2wasm builds from smoke/hello.wat, and a WASI runtime running it passes the check', async () => {
    const dir = path.join(work, 'wasm');
    await mkdir(path.join(dir, 'bin'), { recursive: true });
    const built = path.join(dir, 'built.wasm');
    await execa('wat2wasm', [path.join(REPO_ROOT, 'extensions/wasmtime/smoke/hello.wat'), '-o', built]);
    const module = await readFile(built);
    // wabt's own validator: a well-formed module whose imports and exports type-check.
    expect((await execa('wasm-validate', [built], { reject: false })).exitCode).toBe(0);

    const [command] = (await manifestOf('wasmtime')).smoke.commands;
    // A stand-in for `wasmtime run FILE`: Node's own WASI runs the module the command wrote.
    const runner = path.join(dir, 'bin/wasmtime');
    await writeFile(
      runner,
      `#!${process.execPath}\n` +
        "const { WASI } = require('node:wasi'); const fs = require('node:fs');\n" +
        "if (process.argv[2] !== 'run') process.exit(2);\n" +
        "fs.copyFileSync(process.argv[3], process.env.WASM_COPY);\n" +
        "const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });\n" +
        'WebAssembly.instantiate(fs.readFileSync(process.argv[3]), wasi.getImportObject()).then(({ instance }) => wasi.start(instance));\n',
    );
    await chmod(runner, 0o755);
    const copy = path.join(dir, 'written.wasm');
    const script = command!.replaceAll('/tmp/bakehouse-hello.wasm', path.join(dir, 'hello.wasm'));
    const ran = await execa('sh', ['-c', script], { env: { PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, WASM_COPY: copy, NODE_NO_WARNINGS: '1' }, reject: false, all: true });
    expect(ran.exitCode, ran.all).toBe(0);
    expect(await readFile(copy)).toEqual(module);

    // The check can fail: a module printing something else does not pass.
    const other = script.replace('test "$(wasmtime run', 'test "x$(wasmtime run');
    expect((await execa('sh', ['-c', other], { env: { PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, WASM_COPY: copy, NODE_NO_WARNINGS: '1' }, reject: false })).exitCode).toBe(1);
  });

  it('the lock says the pin was computed (upstream publishes no checksum list)', async () => {
    const lock = JSON.parse(await readFile(path.join(REPO_ROOT, 'extensions/wasmtime/extension.lock.json'), 'utf8'));
    expect(lock.images[0].inputs.wasmtime).toMatchObject({ version: WASMTIME, checksum: 'computed' });
  });
});

describe('booted together under systemd (nspawn)', () => {
  it('with no configuration each unit enables and is skipped on its condition; configured, consul creates its user and runs as it; nothing fails', async () => {
    const flatcar = JSON.parse(await readFile(path.join(REPO_ROOT, 'flatcar.json'), 'utf8')) as { version: string };
    const root = await ensureTestbedRoot(flatcar.version);
    // The first smoke command of each is the one a fixture binary can pass; the dev-mode ones need the real agents.
    const conditions = await Promise.all(HASHICORP.map(async (name) => (await manifestOf(name)).smoke.commands[0]!));
    const result = await bootTestbed({
      root,
      extensions: { ...Object.fromEntries(HASHICORP.map((name) => [name, image(name, VERSIONS[name], 'x86-64')])), wasmtime: image('wasmtime', WASMTIME, 'x86-64') },
      checks: {
        units: [],
        commands: [
          // The users do not exist yet: systemd-sysusers ran before the merge, as it may on Flatcar.
          '! getent passwd consul && ! getent passwd vault',
          ...conditions,
          // Configured, consul.service creates its user and state directory and runs the agent as that user (the fixture binary prints and exits 0).
          'mkdir -p /etc/consul.d && echo "server = false" > /etc/consul.d/consul.hcl && systemctl restart consul.service && sleep 1 && ' +
            'test "$(systemctl show -P Result consul.service)" = success && test "$(systemctl show -P ExecMainStatus consul.service)" = 0 && ' +
            'getent passwd consul | grep -q ":/var/lib/consul:" && test "$(stat -c %U /var/lib/consul)" = consul && ' +
            'journalctl -u consul.service -o cat | grep -q "consul 2.0.2 fixture" && ! getent passwd nomad || { systemctl status --no-pager consul.service; journalctl -u consul.service --no-pager; exit 1; }',
          'test -z "$(systemctl list-units --failed --no-legend --plain)"',
          'wasmtime | grep -q "wasmtime 0.40.1 fixture"',
        ],
      },
      timeoutMs: 180_000,
    });
    expect(result.ok, `${result.problem ?? ''}\n${result.checks.map((c) => `${c.name}: ${JSON.stringify(c)}`).join('\n')}\n${result.journal ?? ''}`).toBe(true);
    expect(result.checks).toHaveLength(conditions.length + 4);
    expect(result.sysext).toMatch(/consul[\s\S]*nomad[\s\S]*vault/);
  }, 600_000);
});
