import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * COCO-format annotation files shaped like the big training sets, written
 * as Python's json.dump writes them (", " and ": " separators), a piece at
 * a time (files of several GB never exist as one string):
 *
 * - coco: COCO train2017 — 80 classes, ~7.3 objects per image, polygons
 *   (~24 points, 2 decimals), 1% crowd regions as uncompressed RLE, the
 *   image fields of the real file.
 * - lvis: LVIS v1 train — 1203 classes with LVIS's category fields, ~12.7
 *   objects per image, finer polygons (~44 points), no iscrowd, images with
 *   `neg_category_ids` and `not_exhaustive_category_ids`.
 * - o365: Objects365 v2 train — 365 classes, ~14.7 boxes per image, no
 *   masks, float32 boxes printed in full (`491.3955078125`), areas w * h,
 *   the extra keys `isfake` and `isreflected`, `images/v1/patchN/…` file names.
 */
export type SynthKind = 'coco' | 'lvis' | 'o365';

export interface AnnotationSynthOptions {
  kind: SynthKind;
  images: number;
  annotations: number;
  seed?: number;
}

/** mulberry32: fast and deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CLASSES: Record<SynthKind, number> = { coco: 80, lvis: 1203, o365: 365 };

/** Python's repr of a float that happens to be whole ends in ".0". */
function pyFloat(v: number): string {
  const s = String(v);
  return Number.isInteger(v) && !s.includes('e') ? `${s}.0` : s;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

class Writer {
  private fd: number;
  private parts: string[] = [];
  private size = 0;
  bytes = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  put(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size > 1 << 22) this.flush();
  }

  flush(): void {
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    writeSync(this.fd, buf);
    this.bytes += buf.length;
    this.parts = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

function categories(kind: SynthKind, rand: () => number): string[] {
  const n = CLASSES[kind];
  const out: string[] = [];
  for (let c = 1; c <= n; c++) {
    if (kind === 'lvis') {
      const freq = ['r', 'c', 'f'][Math.floor(rand() * 3)];
      out.push(`{"frequency": "${freq}", "synset": "thing_${c}.n.01", "synonyms": ["thing_${c}", "thing ${c}"], "def": "a synthetic category number ${c} for benchmarking", "id": ${c}, "image_count": ${Math.floor(rand() * 5000)}, "instance_count": ${Math.floor(rand() * 20000)}, "name": "thing_${c}"}`);
    } else if (kind === 'o365') out.push(`{"name": "thing ${c}", "id": ${c}}`);
    else out.push(`{"supercategory": "group${c % 12}", "id": ${c}, "name": "thing ${c}"}`);
  }
  return out;
}

function image(kind: SynthKind, id: number, h: number, w: number, rand: () => number): string {
  const name = String(id).padStart(12, '0');
  if (kind === 'o365') {
    const patch = Math.floor(id / 34000);
    return `{"height": ${h}, "id": ${id}, "license": ${1 + (id % 8)}, "width": ${w}, "file_name": "images/v1/patch${patch}/objects365_v1_${String(id).padStart(8, '0')}.jpg", "url": ""}`;
  }
  const flickr = `http://farm${1 + (id % 9)}.staticflickr.com/${1000 + (id % 8999)}/${id}${Math.floor(rand() * 1e9)}_z.jpg`;
  if (kind === 'lvis') {
    const neg = Array.from({ length: Math.floor(rand() * 12) }, () => 1 + Math.floor(rand() * 1203));
    const ne = Array.from({ length: Math.floor(rand() * 3) }, () => 1 + Math.floor(rand() * 1203));
    return `{"date_captured": "2013-11-14 11:18:45", "neg_category_ids": [${neg.join(', ')}], "id": ${id}, "license": ${1 + (id % 8)}, "height": ${h}, "width": ${w}, "flickr_url": "${flickr}", "coco_url": "http://images.cocodataset.org/train2017/${name}.jpg", "not_exhaustive_category_ids": [${ne.join(', ')}]}`;
  }
  return `{"license": ${1 + (id % 8)}, "file_name": "${name}.jpg", "coco_url": "http://images.cocodataset.org/train2017/${name}.jpg", "height": ${h}, "width": ${w}, "date_captured": "2013-11-14 11:18:45", "flickr_url": "${flickr}", "id": ${id}}`;
}

/** A star-shaped polygon of n points (2 decimals) inside the box, its area and its tight box. */
function polygon(x: number, y: number, bw: number, bh: number, n: number, rand: () => number): { xy: number[]; area: number; box: number[] } {
  const xy: number[] = [];
  const cx = x + bw / 2;
  const cy = y + bh / 2;
  for (let i = 0; i < n; i++) {
    const a = (2 * Math.PI * i) / n;
    const r = 0.6 + 0.4 * rand();
    xy.push(round2(cx + (Math.cos(a) * r * bw) / 2), round2(cy + (Math.sin(a) * r * bh) / 2));
  }
  let s = 0;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < xy.length; i += 2) {
    const j = (i + 2) % xy.length;
    s += xy[i]! * xy[j + 1]! - xy[j]! * xy[i + 1]!;
    x0 = Math.min(x0, xy[i]!);
    x1 = Math.max(x1, xy[i]!);
    y0 = Math.min(y0, xy[i + 1]!);
    y1 = Math.max(y1, xy[i + 1]!);
  }
  return { xy, area: Math.abs(s) / 2, box: [x0, y0, round2(x1 - x0), round2(y1 - y0)] };
}

function annotation(kind: SynthKind, id: number, imageId: number, h: number, w: number, rand: () => number): string {
  const cat = 1 + Math.floor(rand() * CLASSES[kind]);
  const bw = 4 + rand() * (w / 2);
  const bh = 4 + rand() * (h / 2);
  const x = rand() * (w - bw);
  const y = rand() * (h - bh);
  if (kind === 'o365') {
    const b = [Math.fround(x), Math.fround(y), Math.fround(bw), Math.fround(bh)];
    return `{"id": ${id}, "iscrowd": 0, "isfake": 0, "area": ${pyFloat(b[2]! * b[3]!)}, "isreflected": 0, "bbox": [${b.map(pyFloat).join(', ')}], "image_id": ${imageId}, "category_id": ${cat}}`;
  }
  if (kind === 'coco' && rand() < 0.01) {
    // A crowd region: uncompressed RLE over the box's columns.
    const counts: number[] = [];
    let total = 0;
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const wb = Math.max(1, Math.floor(bw));
    const hb = Math.max(1, Math.floor(bh));
    counts.push(x0 * h + y0);
    for (let c = 0; c < wb; c++) counts.push(hb, c < wb - 1 ? h - hb : 0);
    counts[counts.length - 1] = h * w - x0 * h - y0 - (wb - 1) * h - hb;
    for (const c of counts) total += c;
    if (total !== h * w) throw new Error('bad synthetic RLE');
    return `{"segmentation": {"counts": [${counts.join(', ')}], "size": [${h}, ${w}]}, "area": ${wb * hb}, "iscrowd": 1, "image_id": ${imageId}, "bbox": [${x0}, ${y0}, ${wb}, ${hb}], "category_id": ${cat}, "id": ${id}}`;
  }
  const points = kind === 'lvis' ? 20 + Math.floor(rand() * 48) : 6 + Math.floor(rand() * 36);
  const p = polygon(x, y, bw, bh, points, rand);
  const seg = `[[${p.xy.join(', ')}]]`;
  if (kind === 'lvis') return `{"area": ${pyFloat(p.area)}, "id": ${id}, "segmentation": ${seg}, "image_id": ${imageId}, "bbox": [${p.box.join(', ')}], "category_id": ${cat}}`;
  return `{"segmentation": ${seg}, "area": ${pyFloat(p.area)}, "iscrowd": 0, "image_id": ${imageId}, "bbox": [${p.box.join(', ')}], "category_id": ${cat}, "id": ${id}}`;
}

/** Write a synthetic annotation file; returns its size in bytes. */
export function writeAnnotationFile(path: string, o: AnnotationSynthOptions): number {
  const rand = rng(o.seed ?? 1);
  const out = new Writer(path);
  const sizes: [number, number][] = [];
  if (o.kind === 'o365') out.put('{"images": [');
  else out.put(`{"info": {"description": "synthetic ${o.kind}-shaped annotations", "version": "1.0", "year": 2017}, "licenses": [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1, "name": "Attribution-NonCommercial-ShareAlike License"}], "images": [`);
  for (let i = 0; i < o.images; i++) {
    const h = 240 + Math.floor(rand() * 400);
    const w = 320 + Math.floor(rand() * 400);
    sizes.push([h, w]);
    out.put((i ? ', ' : '') + image(o.kind, i + 1, h, w, rand));
  }
  out.put('], "annotations": [');
  // Annotations grouped by image, as the real files mostly are; ids in file order.
  const per = o.annotations / o.images;
  let id = 0;
  for (let i = 0; i < o.images && id < o.annotations; i++) {
    const until = i === o.images - 1 ? o.annotations : Math.min(o.annotations, Math.round((i + 1) * per));
    const [h, w] = sizes[i]!;
    while (id < until) {
      id++;
      out.put((id > 1 ? ', ' : '') + annotation(o.kind, id, i + 1, h, w, rand));
    }
  }
  out.put(`], "categories": [${categories(o.kind, rand).join(', ')}]}`);
  out.close();
  return out.bytes;
}
