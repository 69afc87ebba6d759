import { defineExtension } from '@bakehouse/schema';

/** smoke/hello.wat compiled (wat2wasm), as printf octal escapes: the test rebuilds it and compares. */
const HELLO_WASM = '\\000\\141\\163\\155\\001\\000\\000\\000\\001\\014\\002\\140\\004\\177\\177\\177\\177\\001\\177\\140\\000\\000\\002\\043\\001\\026\\167\\141\\163\\151\\137\\163\\156\\141\\160\\163\\150\\157\\164\\137\\160\\162\\145\\166\\151\\145\\167\\061\\010\\146\\144\\137\\167\\162\\151\\164\\145\\000\\000\\003\\002\\001\\001\\005\\003\\001\\000\\001\\007\\023\\002\\006\\155\\145\\155\\157\\162\\171\\002\\000\\006\\137\\163\\164\\141\\162\\164\\000\\001\\012\\035\\001\\033\\000\\101\\000\\101\\020\\066\\002\\000\\101\\004\\101\\022\\066\\002\\000\\101\\001\\101\\000\\101\\001\\101\\010\\020\\000\\032\\013\\013\\030\\001\\000\\101\\020\\013\\022\\142\\141\\153\\145\\150\\157\\165\\163\\145\\055\\167\\141\\163\\155\\055\\157\\153\\012';

export default defineExtension({
  name: 'wasmtime',
  description: 'The wasmtime WebAssembly runtime (WASI), from the upstream release tarball',
  category: 'languages',
  homepage: 'https://wasmtime.dev',
  upstream: { type: 'github-releases', repo: 'bytecodealliance/wasmtime' },
  arch: ['x86-64', 'arm64'],
  inputs: [
    {
      name: 'wasmtime',
      kind: 'tar.xz',
      url: 'https://github.com/bytecodealliance/wasmtime/releases/download/v{version}/wasmtime-v{version}-{uname}-linux.tar.xz',
      // Upstream publishes no checksum file for its tarballs: bump hashes the download (see README for the pin's independent source).
      checksum: { from: 'download' },
      extract: [{ from: 'wasmtime-v{version}-{uname}-linux/wasmtime', to: '/usr/bin/wasmtime' }],
    },
  ],
  release: { id: 'flatcar', compat: 'level' },
  smoke: {
    commands: [
      // A WASI command module: wasmtime compiles it, runs _start, and fd_write prints the line.
      `printf '${HELLO_WASM}' > /tmp/bakehouse-hello.wasm && test "$(wasmtime run /tmp/bakehouse-hello.wasm)" = bakehouse-wasm-ok`,
    ],
  },
});
