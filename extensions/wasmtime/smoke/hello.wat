;; The module wasmtime's smoke check runs: WASI's fd_write prints one line to stdout.
;; extension.ts carries its binary form, which the repository's test rebuilds from this file with wat2wasm.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; One iovec at 0: the text at 16, 18 bytes long.
  (data (i32.const 16) "bakehouse-wasm-ok\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 18))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
