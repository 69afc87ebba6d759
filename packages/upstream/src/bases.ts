import { UpstreamSettingError } from './errors.js';

/** The upstream sites Bakehouse knows, each by the base URL it is reached at. */
export interface UpstreamBases {
  github: string;
  githubApi: string;
  k8s: string;
  docker: string;
  /** raw.githubusercontent.com: files of a repository at a ref (Kubernetes' release schedule, containerd's runc-version). */
  githubRaw: string;
  /** releases.hashicorp.com: consul, nomad, vault and their signed SHA256SUMS. */
  hashicorp: string;
  /** pkgs.tailscale.com: the static tarballs, their .sha256 files and the ?mode=json version listing. */
  tailscale: string;
}
export type UpstreamName = keyof UpstreamBases;

export const DEFAULT_BASES: Readonly<UpstreamBases> = {
  github: 'https://github.com',
  githubApi: 'https://api.github.com',
  k8s: 'https://dl.k8s.io',
  docker: 'https://download.docker.com',
  githubRaw: 'https://raw.githubusercontent.com',
  hashicorp: 'https://releases.hashicorp.com',
  tailscale: 'https://pkgs.tailscale.com',
};

/** How each site is named in `--upstream NAME=URL` and in BAKEHOUSE_UPSTREAM_NAME. */
const FLAG_NAMES: Record<UpstreamName, string> = { github: 'github', githubApi: 'github-api', k8s: 'k8s', docker: 'docker', githubRaw: 'github-raw', hashicorp: 'hashicorp', tailscale: 'tailscale' };
const envName = (name: UpstreamName) => `BAKEHOUSE_UPSTREAM_${FLAG_NAMES[name].toUpperCase().replace('-', '_')}`;
const NAMES = Object.keys(DEFAULT_BASES) as UpstreamName[];

/**
 * The defaults, overridden by BAKEHOUSE_UPSTREAM_GITHUB, _GITHUB_API, _K8S, _DOCKER, _GITHUB_RAW, _HASHICORP and _TAILSCALE, then by
 * `--upstream NAME=URL` flags. A mirror or a test server takes a site's place this way.
 */
export function resolveBases(env: NodeJS.ProcessEnv = process.env, flags: readonly string[] = []): UpstreamBases {
  const bases = { ...DEFAULT_BASES };
  for (const name of NAMES) {
    const value = env[envName(name)];
    if (value) bases[name] = checkedBase(value, envName(name));
  }
  for (const flag of flags) {
    const [, key, value] = /^([\w-]+)=(.+)$/.exec(flag) ?? [];
    const name = NAMES.find((n) => FLAG_NAMES[n] === key);
    if (!name || value === undefined)
      throw new UpstreamSettingError(`--upstream ${flag}: expected NAME=URL with NAME one of ${NAMES.map((n) => FLAG_NAMES[n]).join(', ')}`);
    bases[name] = checkedBase(value, `--upstream ${flag}`);
  }
  return bases;
}

function checkedBase(value: string, origin: string): string {
  if (!/^https?:\/\/[^/]/.test(value)) throw new UpstreamSettingError(`${origin}: expected an http(s) base URL, got "${value}"`);
  return value.replace(/\/+$/, '');
}

/**
 * Points a URL at the configured site: a URL under a default base (https://github.com/...) moves
 * under that site's configured base. Manifests name the real sites; this is how a download, a
 * checksum file or a release list comes from a mirror or a test server instead.
 */
export function rewriteUrl(url: string, bases: UpstreamBases): string {
  for (const name of NAMES) {
    const base = DEFAULT_BASES[name];
    if (url === base || url.startsWith(`${base}/`)) return bases[name] + url.slice(base.length);
  }
  return url;
}
