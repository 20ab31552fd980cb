import { createCanvas } from '@napi-rs/canvas';

/**
 * A tiny vector scene — polylines, rectangles, text — rendered both as SVG
 * and as PNG, so every plot is laid out once and exported twice.
 */
export type Shape =
  | { kind: 'polyline'; points: [number, number][]; stroke: string; width: number; dash?: number[] }
  | { kind: 'rect'; x: number; y: number; w: number; h: number; fill?: string; stroke?: string }
  | { kind: 'text'; x: number; y: number; text: string; size: number; fill: string; anchor?: 'start' | 'middle' | 'end'; rotate?: number };

export interface Scene {
  width: number;
  height: number;
  background: string;
  shapes: Shape[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function toSvg(s: Scene): string {
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${s.width}" height="${s.height}" viewBox="0 0 ${s.width} ${s.height}">`, `<rect width="100%" height="100%" fill="${s.background}"/>`];
  for (const sh of s.shapes) {
    if (sh.kind === 'polyline') {
      const pts = sh.points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${pts}" fill="none" stroke="${sh.stroke}" stroke-width="${sh.width}"${sh.dash ? ` stroke-dasharray="${sh.dash.join(' ')}"` : ''}/>`);
    } else if (sh.kind === 'rect') {
      parts.push(`<rect x="${sh.x.toFixed(1)}" y="${sh.y.toFixed(1)}" width="${sh.w.toFixed(1)}" height="${sh.h.toFixed(1)}" fill="${sh.fill ?? 'none'}"${sh.stroke ? ` stroke="${sh.stroke}"` : ''}/>`);
    } else {
      const tr = sh.rotate ? ` transform="rotate(${sh.rotate} ${sh.x.toFixed(1)} ${sh.y.toFixed(1)})"` : '';
      parts.push(`<text x="${sh.x.toFixed(1)}" y="${sh.y.toFixed(1)}" font-family="sans-serif" font-size="${sh.size}" fill="${sh.fill}" text-anchor="${sh.anchor ?? 'start'}"${tr}>${esc(sh.text)}</text>`);
    }
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export function toPng(s: Scene): Buffer {
  const canvas = createCanvas(s.width, s.height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = s.background;
  ctx.fillRect(0, 0, s.width, s.height);
  for (const sh of s.shapes) {
    if (sh.kind === 'polyline') {
      if (sh.points.length === 0) continue;
      ctx.strokeStyle = sh.stroke;
      ctx.lineWidth = sh.width;
      ctx.setLineDash(sh.dash ?? []);
      ctx.beginPath();
      sh.points.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
      ctx.stroke();
    } else if (sh.kind === 'rect') {
      if (sh.fill) {
        ctx.fillStyle = sh.fill;
        ctx.fillRect(sh.x, sh.y, sh.w, sh.h);
      }
      if (sh.stroke) {
        ctx.strokeStyle = sh.stroke;
        ctx.setLineDash([]);
        ctx.lineWidth = 1;
        ctx.strokeRect(sh.x, sh.y, sh.w, sh.h);
      }
    } else {
      ctx.save();
      ctx.font = `${sh.size}px sans-serif`;
      ctx.fillStyle = sh.fill;
      ctx.textAlign = sh.anchor === 'middle' ? 'center' : sh.anchor === 'end' ? 'right' : 'left';
      ctx.textBaseline = 'alphabetic';
      ctx.translate(sh.x, sh.y);
      if (sh.rotate) ctx.rotate((sh.rotate * Math.PI) / 180);
      ctx.fillText(sh.text, 0, 0);
      ctx.restore();
    }
  }
  return canvas.toBuffer('image/png');
}
