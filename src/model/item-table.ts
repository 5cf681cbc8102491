/**
 * The model's item embedding [numItems + 1, d] held once, in the memory of a float32 kernel
 * (src/kernels/f32.ts), on the CPU backends' fused path: the loader decodes the weights straight
 * into it, the fused forward (./fused.ts) reads its history rows there, and the catalog's float32
 * matrix (src/retrieval/kernel-float32.ts), when its rows are the model's items in order, scores
 * these very rows in place (it lays out its other arrays after the table in the same memory). No
 * TF.js tensor is made of it unless a TF.js path asks for one (`ensureItemTensor`).
 */
import * as tf from '@tensorflow/tfjs';
import { createF32Kernel, type F32Kernel } from '../kernels/f32.js';
import { inPlaceTableBytes } from '../retrieval/kernel-float32.js';
import type { WeightMap } from './sasrec.js';

export class HostItemTable {
  /** True once a catalog matrix lays out its arrays after the table (only one may). */
  private claimed = false;

  private constructor(
    /** The kernel whose memory holds the table from byte 0, row-major. */
    readonly kernel: F32Kernel,
    /** Table rows (row 0 is the padding id's). */
    readonly rows: number,
    readonly dim: number,
  ) {}

  /** A table of `rows` × `dim` zeros in a new kernel's memory (WebAssembly SIMD where it runs). */
  static allocate(rows: number, dim: number): HostItemTable {
    const kernel = createF32Kernel();
    // With the room of the matrix that may score these rows in place (it then grows nothing).
    kernel.reserve(inPlaceTableBytes(rows, dim, kernel));
    return new HostItemTable(kernel, rows, dim);
  }

  /** The table's values (a fresh view: the memory may have grown since the last one). */
  get values(): Float32Array {
    return new Float32Array(this.kernel.buffer, 0, this.rows * this.dim);
  }

  /** Bytes of the table itself. */
  get bytes(): number {
    return this.rows * this.dim * 4;
  }

  /**
   * Lets one catalog matrix keep its arrays after the table in the kernel's memory and score the
   * table's rows in place; false when another matrix already did (that one then copies its rows).
   */
  claim(): boolean {
    if (this.claimed) return false;
    this.claimed = true;
    return true;
  }
}

/** What `ensureItemTensor` reads and completes. */
export interface ItemTableModel {
  weights: WeightMap;
  hostItemTable?: HostItemTable;
}

/**
 * Makes `weights.itemEmbedding` a TF.js tensor (a copy of the host table) where a TF.js path needs
 * it and the loader left it in the host table only; a no-op when the tensor exists.
 */
export function ensureItemTensor(model: ItemTableModel): void {
  const t = model.hostItemTable;
  if (model.weights.itemEmbedding || !t) return;
  model.weights.itemEmbedding = tf.tensor2d(t.values.slice(), [t.rows, t.dim], 'float32');
}
