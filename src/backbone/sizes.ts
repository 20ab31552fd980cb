/** BEiT-3 encoder dimensions by size, and ViTDet's global-attention blocks for each. */
export interface Beit3Dims {
  embedDim: number;
  depth: number;
  numHeads: number;
  ffnDim: number;
  /** Blocks that attend globally in ViTDet mode (the rest use windows). */
  globalBlocks: number[];
}

export type Beit3Size = 'tiny' | 'base' | 'large' | 'giant';

export const BEIT3_SIZES: Record<Beit3Size, Beit3Dims> = {
  // For tests: the dimensions of the torch-ref fixtures.
  tiny: { embedDim: 64, depth: 4, numHeads: 4, ffnDim: 256, globalBlocks: [1, 3] },
  base: { embedDim: 768, depth: 12, numHeads: 12, ffnDim: 3072, globalBlocks: [2, 5, 8, 11] },
  large: { embedDim: 1024, depth: 24, numHeads: 16, ffnDim: 4096, globalBlocks: [5, 11, 17, 23] },
  // Not released; the paper's 1408/40/16 with FFN 6144 (as EVA's giant), four
  // evenly spaced global blocks.
  giant: { embedDim: 1408, depth: 40, numHeads: 16, ffnDim: 6144, globalBlocks: [9, 19, 29, 39] },
};
