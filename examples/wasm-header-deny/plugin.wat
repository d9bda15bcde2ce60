;; wasm-header-deny: a proxy-wasm (ABI 0.2.1) HTTP filter written directly in WebAssembly text.
;; - Requests whose path starts with /admin get a local 403 with the header x-denied-by: wasm.
;; - Every other request goes upstream with the header x-wasm-greeting set to the plugin's
;;   pluginConfig (the JSON text the WasmPlugin gives), and its response comes back with the
;;   header x-wasm-plugin: wasm-header-deny.
;; Build: wat2wasm plugin.wat -o plugin.wasm  (Debian package wabt)
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $send_local (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 2)
  ;; A bump allocator from 4096; each request gives back what it took.
  (global $heap (mut i32) (i32.const 4096))
  (global $cfg_ptr (mut i32) (i32.const 0))
  (global $cfg_len (mut i32) (i32.const 0))

  (data (i32.const 16) "request.path")                 ;; 12 bytes
  (data (i32.const 32) "x-wasm-greeting")              ;; 15 bytes
  (data (i32.const 48) "/admin")                       ;; 6 bytes
  (data (i32.const 64) "denied by wasm-header-deny")   ;; 26 bytes
  ;; A header map of one pair, x-denied-by: wasm (29 bytes): count, key length, value length, key\0 value\0.
  (data (i32.const 128) "\01\00\00\00\0b\00\00\00\04\00\00\00x-denied-by\00wasm\00")
  (data (i32.const 192) "wasm-header-deny configured") ;; 27 bytes
  (data (i32.const 224) "x-wasm-plugin")               ;; 13 bytes
  (data (i32.const 240) "wasm-header-deny")            ;; 16 bytes
  ;; 256, 260: where the host writes a returned buffer's address and size.

  (func (export "proxy_abi_version_0_2_1"))

  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (local.get $p))

  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))

  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 0))
      (then
        (drop (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 256) (i32.const 260)))
        (global.set $cfg_ptr (i32.load (i32.const 256)))
        (global.set $cfg_len (i32.load (i32.const 260)))))
    (drop (call $log (i32.const 2) (i32.const 192) (i32.const 27)))
    (i32.const 1))

  ;; 1 when memory at $p (length $len) starts with the $plen bytes at $prefix.
  (func $has_prefix (param $p i32) (param $len i32) (param $prefix i32) (param $plen i32) (result i32)
    (local $i i32)
    (if (i32.lt_u (local.get $len) (local.get $plen)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $plen)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $p) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $prefix) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (local $saved i32)
    (local.set $saved (global.get $heap))
    (if (i32.eqz (call $get_property (i32.const 16) (i32.const 12) (i32.const 256) (i32.const 260)))
      (then
        (if (call $has_prefix (i32.load (i32.const 256)) (i32.load (i32.const 260)) (i32.const 48) (i32.const 6))
          (then
            (drop (call $send_local (i32.const 403) (i32.const 0) (i32.const 0)
              (i32.const 64) (i32.const 26) (i32.const 128) (i32.const 29) (i32.const -1)))
            (global.set $heap (local.get $saved))
            (return (i32.const 1))))))
    (drop (call $add_header (i32.const 0) (i32.const 32) (i32.const 15) (global.get $cfg_ptr) (global.get $cfg_len)))
    (global.set $heap (local.get $saved))
    (i32.const 0))

  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $add_header (i32.const 2) (i32.const 224) (i32.const 13) (i32.const 240) (i32.const 16)))
    (i32.const 0))
)
