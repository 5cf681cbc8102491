/**
 * The hand-written SVG plots of the offline evaluations (docs/diversity.svg, docs/feedback-loop.svg):
 * a titled figure of panels, each with a grid, tick labels, axis labels and polylines with markers.
 * No plotting dependency: the figures are small, and the same input always gives the same file.
 */

/** Escapes text for SVG. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A panel's place in the figure (pixels). */
export interface PanelBox { left: number; top: number; w: number; h: number }

/** Data -> pixel maps of one panel. */
export interface PanelScale { x: (v: number) => number; y: (v: number) => number }

/** One SVG figure: a title on top, then panels, lines, legends and labels in drawing order. */
export class SvgFigure {
  private readonly out: string[] = [];

  constructor(readonly width: number, readonly height: number, title: string) {
    this.out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
    this.out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
    this.out.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  }

  /** A panel with its frame, a 5-step grid and tick labels, axis labels and a title; returns its scales. */
  axes(p: PanelBox, xMin: number, xMax: number, yMin: number, yMax: number, xLabel: string, yLabel: string, title: string): PanelScale {
    const out = this.out;
    const x = (v: number) => p.left + ((v - xMin) / (xMax - xMin || 1)) * p.w;
    const y = (v: number) => p.top + p.h - ((v - yMin) / (yMax - yMin || 1)) * p.h;
    out.push(`<text x="${p.left + p.w / 2}" y="${p.top - 14}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
    const digits = (span: number) => (span < 0.1 ? 3 : 2);
    for (let i = 0; i <= 5; i++) {
      const yv = yMin + ((yMax - yMin) * i) / 5;
      out.push(`<line x1="${p.left}" x2="${p.left + p.w}" y1="${y(yv).toFixed(1)}" y2="${y(yv).toFixed(1)}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${p.left - 6}" y="${(y(yv) + 4).toFixed(1)}" text-anchor="end" fill="#555">${yv.toFixed(digits(yMax - yMin))}</text>`);
      const xv = xMin + ((xMax - xMin) * i) / 5;
      out.push(`<text x="${x(xv).toFixed(1)}" y="${p.top + p.h + 16}" text-anchor="middle" fill="#555">${xv.toFixed(digits(xMax - xMin))}</text>`);
    }
    out.push(`<rect x="${p.left}" y="${p.top}" width="${p.w}" height="${p.h}" fill="none" stroke="#999"/>`);
    out.push(`<text x="${p.left + p.w / 2}" y="${p.top + p.h + 36}" text-anchor="middle">${esc(xLabel)}</text>`);
    out.push(`<text transform="translate(${p.left - 52} ${p.top + p.h / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
    return { x, y };
  }

  /** A polyline through pixel points, with a dot at each. */
  line(pts: Array<[number, number]>, color: string, dash = ''): void {
    this.out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`);
    for (const [a, b] of pts) this.out.push(`<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${color}"/>`);
  }

  /** A marker that stands apart from the lines (a hollow square). */
  marker([a, b]: [number, number], color: string): void {
    this.out.push(`<rect x="${(a - 5).toFixed(1)}" y="${(b - 5).toFixed(1)}" width="10" height="10" fill="none" stroke="${color}" stroke-width="2"/>`);
  }

  /** One legend entry: a line sample and its label, the label's baseline at `y`. */
  legend(x: number, y: number, label: string, color: string, dash = ''): void {
    this.out.push(`<line x1="${x}" x2="${x + 22}" y1="${y - 4}" y2="${y - 4}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    this.out.push(`<text x="${x + 28}" y="${y}">${esc(label)}</text>`);
  }

  /** Text at a pixel position (numbers to one decimal, strings as they are). */
  text(x: number | string, y: number | string, s: string, attrs = ''): void {
    const px = (v: number | string) => (typeof v === 'number' ? v.toFixed(1) : v);
    this.out.push(`<text x="${px(x)}" y="${px(y)}"${attrs ? ` ${attrs}` : ''}>${esc(s)}</text>`);
  }

  /** The SVG document. */
  toString(): string {
    return `${[...this.out, '</svg>'].join('\n')}\n`;
  }
}

/** An axis range around values, widened by a tenth on each side and kept in [0, 1]. */
export function paddedRange(values: number[]): [number, number] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const m = (hi - lo) * 0.1 || 0.05;
  return [Math.max(0, lo - m), Math.min(1, hi + m)];
}
