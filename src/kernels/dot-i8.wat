;; scenerec scoring kernel: int8 catalog rows . int16 query, WebAssembly SIMD (128-bit).
;; Rebuild src/kernels/dot-i8.wasm.ts with `npm run build:kernel` after editing.
(module
  (memory (export "memory") 1)
  ;; out[r] = (sum_k mat[r*d+k] * q[k]) * qscale * scales[r], for r in [0, n).
  ;; mat: byte offset of int8 rows (row-major, d a multiple of 16); q: byte offset of d int16;
  ;; scales, out: byte offsets of n float32.
  (func (export "dotI8") (param $mat i32) (param $n i32) (param $d i32) (param $q i32)
                         (param $scales i32) (param $qscale f32) (param $out i32)
    (local $r i32) (local $k i32) (local $row i32) (local $acc v128) (local $s i32)
    (local.set $row (local.get $mat))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $r) (local.get $n)))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (loop $cols
          (local.set $acc (i32x4.add (local.get $acc)
            (i32x4.dot_i16x8_s
              (v128.load8x8_s (i32.add (local.get $row) (local.get $k)))
              (v128.load (i32.add (local.get $q) (i32.shl (local.get $k) (i32.const 1)))))))
          (local.set $acc (i32x4.add (local.get $acc)
            (i32x4.dot_i16x8_s
              (v128.load8x8_s offset=8 (i32.add (local.get $row) (local.get $k)))
              (v128.load offset=16 (i32.add (local.get $q) (i32.shl (local.get $k) (i32.const 1)))))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br_if $cols (i32.lt_u (local.get $k) (local.get $d))))
        (local.set $s (i32.add
          (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
          (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
          (f32.mul (f32.mul (f32.convert_i32_s (local.get $s)) (local.get $qscale))
                   (f32.load (i32.add (local.get $scales) (i32.shl (local.get $r) (i32.const 2))))))
        (local.set $row (i32.add (local.get $row) (local.get $d)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))
)
