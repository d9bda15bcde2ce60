;; wasm-body-filter: a proxy-wasm (ABI 0.2.1) HTTP filter on bodies, written in WebAssembly text.
;; - Request bodies: paused until their end (the host buffers them), then searched; a body that
;;   contains the word "forbidden" gets a local 403 with the header x-denied-by: wasm-body-filter
;;   and never reaches the service.
;; - Response bodies: streamed on piece by piece; at their end the line
;;   "-- filtered by wasm-body-filter" is appended (the host fixes Content-Length).
;; Build: wat2wasm plugin.wat -o plugin.wasm  (Debian package wabt)
(module
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $send_local (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 2)
  ;; A bump allocator from 4096 that grows memory as needed; each call gives back what it took.
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 16) "forbidden")                                 ;; 9 bytes
  (data (i32.const 32) "request body denied by wasm-body-filter")   ;; 39 bytes
  ;; A header map of one pair, x-denied-by: wasm-body-filter (41 bytes):
  ;; count, key length, value length, key\0 value\0.
  (data (i32.const 96) "\01\00\00\00\0b\00\00\00\10\00\00\00x-denied-by\00wasm-body-filter\00")
  (data (i32.const 160) "\n-- filtered by wasm-body-filter\n")        ;; 33 bytes
  ;; 256, 260: where the host writes a returned buffer's address and size.

  (func (export "proxy_abi_version_0_2_1"))

  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end)
                                                              (i32.mul (memory.size) (i32.const 65536)))
                                                     (i32.const 16))
                                          (i32.const 1)))
                    (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $p))

  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))

  ;; 1 when the $len bytes at $p contain the $nlen bytes at $needle.
  (func $contains (param $p i32) (param $len i32) (param $needle i32) (param $nlen i32) (result i32)
    (local $at i32)
    (local $i i32)
    (block $none
      (loop $next_start
        (br_if $none (i32.gt_u (i32.add (local.get $at) (local.get $nlen)) (local.get $len)))
        (local.set $i (i32.const 0))
        (block $mismatch
          (loop $next_byte
            (if (i32.ge_u (local.get $i) (local.get $nlen)) (then (return (i32.const 1))))
            (br_if $mismatch
              (i32.ne (i32.load8_u (i32.add (local.get $p) (i32.add (local.get $at) (local.get $i))))
                      (i32.load8_u (i32.add (local.get $needle) (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next_byte)))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $next_start)))
    (i32.const 0))

  ;; Pause (1) until the whole body is there, then deny it or let it go on (Continue, 0).
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (local $saved i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (local.set $saved (global.get $heap))
    (if (i32.and
          (i32.eqz (call $get_buffer (i32.const 0) (i32.const 0) (local.get $size) (i32.const 256) (i32.const 260)))
          (call $contains (i32.load (i32.const 256)) (i32.load (i32.const 260)) (i32.const 16) (i32.const 9)))
      (then
        (drop (call $send_local (i32.const 403) (i32.const 0) (i32.const 0)
          (i32.const 32) (i32.const 39) (i32.const 96) (i32.const 41) (i32.const -1)))
        (global.set $heap (local.get $saved))
        (return (i32.const 1))))
    (global.set $heap (local.get $saved))
    (i32.const 0))

  ;; Every piece goes on as it comes; the last one gets the line appended (start = max size_t).
  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (local.get $eos)
      (then (drop (call $set_buffer (i32.const 1) (i32.const -1) (i32.const 0) (i32.const 160) (i32.const 33)))))
    (i32.const 0))
)
