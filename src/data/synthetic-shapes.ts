import { rleArea, rleEncode, rleToBbox, type Rle } from '@densekit/eval';
import { Rng } from '../engine/random.js';

/** The classes of the synthetic shapes dataset (ids 1..4 in COCO files). */
export const SHAPE_CLASSES = ['circle', 'square', 'triangle', 'ring'] as const;
export type ShapeClass = (typeof SHAPE_CLASSES)[number];

export interface SyntheticObject {
  /** Index into SHAPE_CLASSES. */
  classIndex: number;
  /** The visible (unoccluded) pixels, column-major RLE. */
  rle: Rle;
  area: number;
  /** [x, y, w, h] of the visible pixels. */
  bbox: [number, number, number, number];
}

export interface SyntheticImage {
  width: number;
  height: number;
  /** RGB, row-major. */
  rgb: Uint8Array;
  objects: SyntheticObject[];
}

export interface ShapesOptions {
  width: number;
  height: number;
  minObjects: number;
  maxObjects: number;
  /** Object size range as a fraction of the shorter image side. */
  minSize: number;
  maxSize: number;
  classes?: readonly number[];
  /**
   * 'class': each class has its own hue (jittered per object), so colour is
   * a cue as in many real categories; 'random': any colour, shape alone
   * tells the classes apart (harder).
   */
  colors?: 'class' | 'random';
}

/** Base hue of each class when colours follow the class (degrees). */
const CLASS_HUES = [0, 120, 220, 50];

function hsvToRgb(h: number, s: number, v: number): number[] {
  const c = v * s;
  const hp = (((h % 360) + 360) % 360) / 60;
  const x = c * (1 - Math.abs((hp % 2) - 1));
  const [r, g, b] = hp < 1 ? [c, x, 0] : hp < 2 ? [x, c, 0] : hp < 3 ? [0, c, x] : hp < 4 ? [0, x, c] : hp < 5 ? [x, 0, c] : [c, 0, x];
  const m = v - c;
  return [r, g, b].map((t) => Math.round((t + m) * 255));
}

interface Shape {
  cls: number;
  cx: number;
  cy: number;
  r: number;
  angle: number;
}

function inside(s: Shape, x: number, y: number): boolean {
  const dx = x - s.cx;
  const dy = y - s.cy;
  const c = Math.cos(s.angle);
  const si = Math.sin(s.angle);
  const u = dx * c + dy * si;
  const v = -dx * si + dy * c;
  switch (SHAPE_CLASSES[s.cls]) {
    case 'circle':
      return u * u + v * v <= s.r * s.r;
    case 'square':
      return Math.abs(u) <= s.r * 0.8 && Math.abs(v) <= s.r * 0.8;
    case 'triangle': {
      // Equilateral, pointing up in its own frame.
      const h = s.r;
      return v <= h * 0.5 && v >= -h && Math.abs(u) <= ((h * 0.5 - v) / (1.5 * h)) * h * 1.15;
    }
    case 'ring': {
      const d = u * u + v * v;
      return d <= s.r * s.r && d >= 0.45 * s.r * s.r;
    }
    default:
      return false;
  }
}

/**
 * One synthetic image of coloured shapes over a noisy gradient. Later shapes
 * occlude earlier ones; each object's mask is its visible part (so masks can
 * have holes and several pieces), as COCO RLE. Deterministic given the rng.
 */
export function synthShapesImage(rng: Rng, o: ShapesOptions): SyntheticImage {
  const { width: W, height: H } = o;
  const classes = o.classes ?? SHAPE_CLASSES.map((_, i) => i);
  const n = o.minObjects + rng.int(o.maxObjects - o.minObjects + 1);
  const shapes: Shape[] = [];
  const short = Math.min(W, H);
  for (let i = 0; i < n; i++) {
    const r = (short * (o.minSize + rng.uniform() * (o.maxSize - o.minSize))) / 2;
    shapes.push({ cls: classes[rng.int(classes.length)]!, cx: r + rng.uniform() * (W - 2 * r), cy: r + rng.uniform() * (H - 2 * r), r, angle: rng.uniform() * Math.PI * 2 });
  }
  // Instance id per pixel (0 = background), later shapes on top.
  const ids = new Int32Array(W * H);
  shapes.forEach((s, k) => {
    const x0 = Math.max(0, Math.floor(s.cx - s.r - 1));
    const x1 = Math.min(W - 1, Math.ceil(s.cx + s.r + 1));
    const y0 = Math.max(0, Math.floor(s.cy - s.r - 1));
    const y1 = Math.min(H - 1, Math.ceil(s.cy + s.r + 1));
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) if (inside(s, x + 0.5, y + 0.5)) ids[y * W + x] = k + 1;
  });
  const byClass = (o.colors ?? 'random') === 'class';
  // Backgrounds stay low-saturation when colours carry the class.
  const bgColor = () => (byClass ? hsvToRgb(rng.range(0, 360), rng.range(0, 0.25), rng.range(0.25, 0.9)) : [rng.int(256), rng.int(256), rng.int(256)]);
  const bg0 = bgColor();
  const bg1 = bgColor();
  const colors = shapes.map((s) => (byClass ? hsvToRgb(CLASS_HUES[s.cls]! + rng.range(-20, 20), rng.range(0.6, 1), rng.range(0.6, 1)) : [rng.int(256), rng.int(256), rng.int(256)]));
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const id = ids[y * W + x]!;
      const t = (x + y) / (W + H);
      for (let c = 0; c < 3; c++) {
        const base = id > 0 ? colors[id - 1]![c]! : bg0[c]! * (1 - t) + bg1[c]! * t;
        const noise = (rng.uniform() - 0.5) * 24;
        rgb[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base + noise)));
      }
    }
  }
  const objects: SyntheticObject[] = [];
  shapes.forEach((s, k) => {
    const col = new Uint8Array(W * H);
    for (let x = 0; x < W; x++) for (let y = 0; y < H; y++) col[x * H + y] = ids[y * W + x] === k + 1 ? 1 : 0;
    const rle = rleEncode(col, H, W);
    const area = rleArea(rle);
    // Objects hidden almost entirely by later ones are not annotated.
    if (area < 16) return;
    const bb = rleToBbox(rle);
    objects.push({ classIndex: s.cls, rle, area, bbox: [bb[0], bb[1], bb[2], bb[3]] });
  });
  return { width: W, height: H, rgb, objects };
}
