import { defineExtension } from '@bakehouse/schema';

/**
 * Writes a minimal pure-Python wheel (a zip with the package and its dist-info) into the
 * directory argv[1]: nothing to build, nothing to download.
 */
const WRITE_WHEEL = [
  'import sys, zipfile',
  'info = "bakehouse_smoke-1.0.dist-info/"',
  'files = {"bakehouse_smoke/__init__.py": "def greet():\\n    return \\"bakehouse-wheel-ok\\"\\n", info + "METADATA": "Metadata-Version: 2.1\\nName: bakehouse-smoke\\nVersion: 1.0\\n", info + "WHEEL": "Wheel-Version: 1.0\\nGenerator: bakehouse\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}',
  'files[info + "RECORD"] = "".join(name + ",,\\n" for name in files) + info + "RECORD,,\\n"',
  'with zipfile.ZipFile(sys.argv[1] + "/bakehouse_smoke-1.0-py3-none-any.whl", "w") as wheel:',
  '    [wheel.writestr(name, text) for name, text in files.items()]',
].join('\n');

export default defineExtension({
  name: 'python',
  description: 'Python 3 with pip and venv, from Debian, self-contained',
  category: 'languages',
  homepage: 'https://www.python.org',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['python3', 'python3-pip', 'python3-venv'],
    versionOf: 'python3',
    // Maintainer-script and certificate tooling that never runs inside the image: pip uses the host's /etc/ssl/certs.
    exclude: ['debconf', 'adduser', 'passwd', 'login.defs', 'base-passwd', 'init-system-helpers', 'sed', 'mount', 'ca-certificates', 'openssl', 'readline-common', 'dpkg', 'tar'],
    export: [
      { from: '/usr/bin/python3', to: '/usr/bin/python3' },
      { from: '/usr/bin/python3.13', to: '/usr/bin/python3.13' },
      { from: '/usr/bin/pip3', to: '/usr/bin/pip3' },
      { from: '/usr/bin/pip', to: '/usr/bin/pip' },
      // A venv records home = /usr/bin and finds the standard library from there, through these links.
      { from: '/usr/lib/python3.13', to: '/usr/lib/python3.13' },
      { from: '/usr/lib/python3', to: '/usr/lib/python3' },
      // ensurepip (python3 -m venv) looks for its wheels at this compiled-in path.
      { from: '/usr/share/python-wheels', to: '/usr/share/python-wheels' },
    ],
  },
  release: { id: 'flatcar', compat: 'level' },
  // Flatcar's own optional python image puts python3 at the same paths.
  conflicts: { builtins: ['flatcar-python'] },
  smoke: {
    commands: [
      'python3 -c "import ssl, sqlite3, ctypes, zlib, lzma, bz2, readline; print(ssl.OPENSSL_VERSION)"',
      // pip in a venv installs a wheel written here, from a local file only: no index, no network.
      [
        'dir=$(mktemp -d) && trap \'rm -rf "$dir"\' EXIT',
        `python3 -c '${WRITE_WHEEL}' "$dir"`,
        'python3 -m venv "$dir/venv"',
        '"$dir/venv/bin/pip" install --no-index --no-cache-dir --disable-pip-version-check "$dir/bakehouse_smoke-1.0-py3-none-any.whl"',
        'test "$("$dir/venv/bin/python" -c "import bakehouse_smoke; print(bakehouse_smoke.greet())")" = bakehouse-wheel-ok',
      ].join(' && '),
    ],
  },
});
