;; scenerec float32 kernels, WebAssembly SIMD (128-bit): the fused forward's dense layers
;; (src/model/fused.ts) and the float32 catalog scoring on CPU backends (src/scoring.ts).
;; Rebuild src/kernels/f32.wasm.ts with `npm run build:kernel` after editing.
(module
  (memory (export "memory") 1)

  ;; out[i*o + j] = bias[j] + sum_k x[i*in + k] * w[k*o + j]   (then max(., 0) when relu != 0)
  ;; for i in [0, n), j in [0, o). All offsets in bytes; w row-major [in, o]; o a multiple of 16.
  (func (export "dense") (param $x i32) (param $n i32) (param $in i32) (param $w i32) (param $o i32)
                         (param $bias i32) (param $out i32) (param $relu i32)
    (local $i i32) (local $j i32) (local $k i32) (local $xrow i32) (local $wp i32) (local $op i32)
    (local $ostride i32) (local $s v128) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $ostride (i32.shl (local.get $o) (i32.const 2)))
    (block $done_i (loop $li
      (br_if $done_i (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $xrow (i32.add (local.get $x) (i32.shl (i32.mul (local.get $i) (local.get $in)) (i32.const 2))))
      (local.set $j (i32.const 0))
      (block $done_j (loop $lj
        (br_if $done_j (i32.ge_u (local.get $j) (local.get $o)))
        (local.set $wp (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $a0 (v128.load (local.get $wp)))
        (local.set $a1 (v128.load offset=16 (local.get $wp)))
        (local.set $a2 (v128.load offset=32 (local.get $wp)))
        (local.set $a3 (v128.load offset=48 (local.get $wp)))
        (local.set $wp (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $k (i32.const 0))
        (block $done_k (loop $lk
          (br_if $done_k (i32.ge_u (local.get $k) (local.get $in)))
          (local.set $s (f32x4.splat (f32.load (i32.add (local.get $xrow) (i32.shl (local.get $k) (i32.const 2))))))
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s) (v128.load (local.get $wp)))))
          (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $wp)))))
          (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s) (v128.load offset=32 (local.get $wp)))))
          (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s) (v128.load offset=48 (local.get $wp)))))
          (local.set $wp (i32.add (local.get $wp) (local.get $ostride)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $lk)))
        (if (local.get $relu) (then
          (local.set $a0 (f32x4.max (local.get $a0) (v128.const f32x4 0 0 0 0)))
          (local.set $a1 (f32x4.max (local.get $a1) (v128.const f32x4 0 0 0 0)))
          (local.set $a2 (f32x4.max (local.get $a2) (v128.const f32x4 0 0 0 0)))
          (local.set $a3 (f32x4.max (local.get $a3) (v128.const f32x4 0 0 0 0)))))
        (local.set $op (i32.add (local.get $out)
          (i32.shl (i32.add (i32.mul (local.get $i) (local.get $o)) (local.get $j)) (i32.const 2))))
        (v128.store (local.get $op) (local.get $a0))
        (v128.store offset=16 (local.get $op) (local.get $a1))
        (v128.store offset=32 (local.get $op) (local.get $a2))
        (v128.store offset=48 (local.get $op) (local.get $a3))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $lj)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $li)))
  )

  ;; Scores of a catalog matrix stored in blocks of 16 rows: block b holds, for k in [0, d), the
  ;; k-th value of its 16 rows (16 floats), so the scan is sequential and needs no horizontal sums.
  ;; out[b*16 + r] = sum_k q[k] * m[(b*d + k)*16 + r], for b in [0, nb). Offsets in bytes.
  (func (export "scoreBlocked") (param $m i32) (param $nb i32) (param $d i32) (param $q i32) (param $out i32)
    (local $b i32) (local $k i32) (local $s v128) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (block $done_b (loop $lb
      (br_if $done_b (i32.ge_u (local.get $b) (local.get $nb)))
      (local.set $a0 (v128.const f32x4 0 0 0 0))
      (local.set $a1 (v128.const f32x4 0 0 0 0))
      (local.set $a2 (v128.const f32x4 0 0 0 0))
      (local.set $a3 (v128.const f32x4 0 0 0 0))
      (local.set $k (i32.const 0))
      (block $done_k (loop $lk
        (br_if $done_k (i32.ge_u (local.get $k) (local.get $d)))
        (local.set $s (f32x4.splat (f32.load (i32.add (local.get $q) (i32.shl (local.get $k) (i32.const 2))))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s) (v128.load (local.get $m)))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $m)))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s) (v128.load offset=32 (local.get $m)))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s) (v128.load offset=48 (local.get $m)))))
        (local.set $m (i32.add (local.get $m) (i32.const 64)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $lk)))
      (v128.store (local.get $out) (local.get $a0))
      (v128.store offset=16 (local.get $out) (local.get $a1))
      (v128.store offset=32 (local.get $out) (local.get $a2))
      (v128.store offset=48 (local.get $out) (local.get $a3))
      (local.set $out (i32.add (local.get $out) (i32.const 64)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $lb)))
  )
  ;; Layer norm of n rows of d floats (d a multiple of 4): dst = (x - mean) / sqrt(var + eps) * g + b,
  ;; mean and (biased) variance over the row. Offsets in bytes.
  (func (export "layerNorm") (param $src i32) (param $dst i32) (param $n i32) (param $d i32)
                             (param $g i32) (param $b i32) (param $eps f32)
    (local $i i32) (local $k i32) (local $db i32) (local $row i32) (local $orow i32)
    (local $acc v128) (local $c v128) (local $mv v128) (local $iv v128) (local $mean f32) (local $var f32)
    (local.set $db (i32.shl (local.get $d) (i32.const 2)))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $row (i32.add (local.get $src) (i32.mul (local.get $i) (local.get $db))))
      (local.set $orow (i32.add (local.get $dst) (i32.mul (local.get $i) (local.get $db))))
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $k (i32.const 0))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $k) (local.get $db)))
        (local.set $acc (f32x4.add (local.get $acc) (v128.load (i32.add (local.get $row) (local.get $k)))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l1)))
      (local.set $mean (f32.div
        (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                 (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))
        (f32.convert_i32_u (local.get $d))))
      (local.set $mv (f32x4.splat (local.get $mean)))
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $k (i32.const 0))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $k) (local.get $db)))
        (local.set $c (f32x4.sub (v128.load (i32.add (local.get $row) (local.get $k))) (local.get $mv)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $c) (local.get $c))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l2)))
      (local.set $var (f32.div
        (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                 (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))
        (f32.convert_i32_u (local.get $d))))
      (local.set $iv (f32x4.splat (f32.div (f32.const 1) (f32.sqrt (f32.add (local.get $var) (local.get $eps))))))
      (local.set $k (i32.const 0))
      (block $d3 (loop $l3
        (br_if $d3 (i32.ge_u (local.get $k) (local.get $db)))
        (v128.store (i32.add (local.get $orow) (local.get $k))
          (f32x4.add
            (f32x4.mul (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $row) (local.get $k))) (local.get $mv)) (local.get $iv))
                       (v128.load (i32.add (local.get $g) (local.get $k))))
            (v128.load (i32.add (local.get $b) (local.get $k)))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l3)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows)))
  )

  ;; Attention logits: out[j] = (q . k_j) / div for j in [0, nk); k_j at k + j*kstride bytes; hd floats,
  ;; a multiple of 4. Offsets in bytes.
  (func (export "dots") (param $q i32) (param $k i32) (param $kstride i32) (param $nk i32) (param $hd i32)
                        (param $div f32) (param $out i32)
    (local $j i32) (local $e i32) (local $hb i32) (local $acc v128)
    (local.set $hb (i32.shl (local.get $hd) (i32.const 2)))
    (block $done (loop $lj
      (br_if $done (i32.ge_u (local.get $j) (local.get $nk)))
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $e (i32.const 0))
      (block $de (loop $le
        (br_if $de (i32.ge_u (local.get $e) (local.get $hb)))
        (local.set $acc (f32x4.add (local.get $acc)
          (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $e))) (v128.load (i32.add (local.get $k) (local.get $e))))))
        (local.set $e (i32.add (local.get $e) (i32.const 16)))
        (br $le)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
        (f32.div
          (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                   (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))
          (local.get $div)))
      (local.set $k (i32.add (local.get $k) (local.get $kstride)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $lj)))
  )

  ;; Attention context: out[e] = sum_j p[j] * v_j[e] for e in [0, hd) (a multiple of 4); v_j at
  ;; v + j*vstride bytes; p: nk floats. Offsets in bytes.
  (func (export "mix") (param $p i32) (param $v i32) (param $vstride i32) (param $nk i32) (param $hd i32) (param $out i32)
    (local $j i32) (local $e i32) (local $hb i32) (local $acc v128) (local $vp i32)
    (local.set $hb (i32.shl (local.get $hd) (i32.const 2)))
    (block $done (loop $le
      (br_if $done (i32.ge_u (local.get $e) (local.get $hb)))
      (local.set $acc (v128.const f32x4 0 0 0 0))
      (local.set $vp (i32.add (local.get $v) (local.get $e)))
      (local.set $j (i32.const 0))
      (block $dj (loop $lj
        (br_if $dj (i32.ge_u (local.get $j) (local.get $nk)))
        (local.set $acc (f32x4.add (local.get $acc)
          (f32x4.mul (f32x4.splat (f32.load (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 2)))))
                     (v128.load (local.get $vp)))))
        (local.set $vp (i32.add (local.get $vp) (local.get $vstride)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $lj)))
      (v128.store (i32.add (local.get $out) (local.get $e)) (local.get $acc))
      (local.set $e (i32.add (local.get $e) (i32.const 16)))
      (br $le)))
  )
)
