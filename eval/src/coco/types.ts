import type { RleObject } from './mask.js';

/** A polygon: [x0, y0, x1, y1, ...] (at least 3 points). */
export type Polygon = number[];

export type Segmentation = Polygon[] | RleObject;

export interface CocoImage {
  id: number;
  width: number;
  height: number;
  file_name?: string;
  [key: string]: unknown;
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory?: string;
  [key: string]: unknown;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** [x, y, width, height] */
  bbox: number[];
  area: number;
  iscrowd: number;
  segmentation?: Segmentation;
  /** Detections only. */
  score?: number;
  [key: string]: unknown;
}

export interface CocoDataset {
  info?: Record<string, unknown>;
  licenses?: unknown[];
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

/** One entry of a COCO results file. */
export interface CocoResult {
  image_id: number;
  category_id: number;
  score: number;
  bbox?: number[];
  segmentation?: RleObject;
}
