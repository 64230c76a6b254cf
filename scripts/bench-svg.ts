// The benchmark's picture (`npm run bench -- --scale --chart FILE`, scripts/bench.ts): one SVG,
// written by hand (no dependency), of two panels —
//  - time to a usable address: one horizontal bar per subject (median, with a p90 whisker);
//  - the scale curve: hook createRuntime p50 and p99 against the number of containers N (log x).
// Pure: data in, text out. Every number drawn is checked finite; a missing one is drawn as "—".

export interface ChartBar {
  label: string;
  /** Median, ms; null when the subject had no successful sample. */
  ms: number | null;
  /** p90, ms (the whisker); null/absent = none. */
  p90?: number | null;
}

export interface ChartScalePoint {
  n: number;
  p50: number | null;
  p99: number | null;
}

export interface ChartData {
  title: string;
  /** One line under the title: where and when it was measured. */
  subtitle: string;
  bars: ChartBar[];
  scale: ChartScalePoint[];
  /** A reference line in the scale panel (e.g. `node -e 0`'s median), ms. */
  baselineMs?: number | null;
  baselineLabel?: string;
}

const W = 960;
const H = 420;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const COLORS = ['#2563eb', '#60a5fa', '#f59e0b', '#9ca3af', '#10b981', '#a855f7'];

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** A coordinate or length as text: finite, two decimals at most (never NaN/Infinity in the output). */
function num(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`bench-svg: non-finite coordinate ${v}`);
  return String(Math.round(v * 100) / 100);
}

/** Text content or an attribute value, XML-escaped. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function fmtMs(v: number | null | undefined): string {
  if (!finite(v)) return '—';
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`;
}

/** A "nice" upper bound for an axis holding `max` (1, 2, 2.5, 5 × 10^k). */
function niceMax(max: number): number {
  if (!finite(max) || max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${num(x)}" y="${num(y)}"${attrs ? ` ${attrs}` : ''}>${xmlEscape(s)}</text>`;
}

function barsPanel(bars: readonly ChartBar[], x0: number, y0: number, w: number, h: number): string[] {
  const out: string[] = [];
  out.push(text(x0, y0 - 14, 'Time to a usable address (median; whisker: p90)', 'font-size="14" font-weight="600"'));
  const labelW = 200;
  const plotX = x0 + labelW;
  const plotW = w - labelW - 70;
  const max = niceMax(Math.max(1, ...bars.flatMap((b) => [b.ms, b.p90 ?? null]).filter(finite)));
  const rowH = bars.length ? Math.min(44, h / bars.length) : h;
  const barH = rowH * 0.55;
  const sx = (v: number): number => plotX + (Math.max(0, v) / max) * plotW;
  // Grid: 5 ticks.
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    const x = sx(v);
    out.push(`<line x1="${num(x)}" y1="${num(y0)}" x2="${num(x)}" y2="${num(y0 + rowH * bars.length)}" stroke="#e5e7eb" stroke-width="1"/>`);
    out.push(text(x, y0 + rowH * bars.length + 16, fmtMs(v), 'font-size="11" fill="#6b7280" text-anchor="middle"'));
  }
  bars.forEach((b, i) => {
    const y = y0 + i * rowH + (rowH - barH) / 2;
    out.push(text(plotX - 8, y + barH / 2 + 4, b.label, 'font-size="12" text-anchor="end" fill="#111827"'));
    if (!finite(b.ms)) {
      out.push(text(plotX + 4, y + barH / 2 + 4, '— (no sample)', 'font-size="12" fill="#6b7280"'));
      return;
    }
    const color = COLORS[i % COLORS.length] ?? '#2563eb';
    out.push(`<rect x="${num(plotX)}" y="${num(y)}" width="${num(Math.max(1, sx(b.ms) - plotX))}" height="${num(barH)}" fill="${color}" rx="2"/>`);
    let labelX = sx(b.ms);
    if (finite(b.p90) && b.p90 > b.ms) {
      const xw = sx(b.p90);
      const ym = y + barH / 2;
      out.push(`<line x1="${num(sx(b.ms))}" y1="${num(ym)}" x2="${num(xw)}" y2="${num(ym)}" stroke="#374151" stroke-width="1"/>`);
      out.push(`<line x1="${num(xw)}" y1="${num(y + 3)}" x2="${num(xw)}" y2="${num(y + barH - 3)}" stroke="#374151" stroke-width="1"/>`);
      labelX = xw;
    }
    out.push(text(labelX + 6, y + barH / 2 + 4, fmtMs(b.ms), 'font-size="12" fill="#111827"'));
  });
  return out;
}

function scalePanel(d: ChartData, x0: number, y0: number, w: number, h: number): string[] {
  const out: string[] = [];
  out.push(text(x0, y0 - 14, 'Hook createRuntime vs N (agent running)', 'font-size="14" font-weight="600"'));
  const pts = d.scale.filter((p) => finite(p.n) && p.n > 0).sort((a, b) => a.n - b.n);
  const plotX = x0 + 52;
  const plotW = w - 52 - 30;
  const plotH = h - 30;
  const vals = pts.flatMap((p) => [p.p50, p.p99]).filter(finite);
  if (finite(d.baselineMs)) vals.push(d.baselineMs);
  const max = niceMax(Math.max(1, ...vals));
  const ns = pts.map((p) => p.n);
  const lo = Math.log10(Math.min(...ns, 10));
  const hi = Math.log10(Math.max(...ns, 1000));
  const span = hi - lo || 1;
  const sx = (n: number): number => plotX + ((Math.log10(n) - lo) / span) * plotW;
  const sy = (v: number): number => y0 + plotH - (Math.max(0, v) / max) * plotH;
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    out.push(`<line x1="${num(plotX)}" y1="${num(sy(v))}" x2="${num(plotX + plotW)}" y2="${num(sy(v))}" stroke="#e5e7eb" stroke-width="1"/>`);
    out.push(text(plotX - 6, sy(v) + 4, fmtMs(v), 'font-size="11" fill="#6b7280" text-anchor="end"'));
  }
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    const x = sx(10 ** e);
    out.push(`<line x1="${num(x)}" y1="${num(y0)}" x2="${num(x)}" y2="${num(y0 + plotH)}" stroke="#f3f4f6" stroke-width="1"/>`);
    out.push(text(x, y0 + plotH + 16, `N = ${10 ** e}`, 'font-size="11" fill="#6b7280" text-anchor="middle"'));
  }
  if (finite(d.baselineMs)) {
    const y = sy(d.baselineMs);
    out.push(`<line x1="${num(plotX)}" y1="${num(y)}" x2="${num(plotX + plotW)}" y2="${num(y)}" stroke="#9ca3af" stroke-width="1" stroke-dasharray="4 3"/>`);
    out.push(text(plotX + plotW, y - 4, d.baselineLabel ?? 'baseline', 'font-size="11" fill="#6b7280" text-anchor="end"'));
  }
  const series: [keyof ChartScalePoint, string, string][] = [
    ['p50', 'p50', '#2563eb'],
    ['p99', 'p99', '#dc2626'],
  ];
  series.forEach(([key, name, color], k) => {
    const line = pts.flatMap((p) => {
      const v = p[key];
      return finite(v) ? [[sx(p.n), sy(v), v] as const] : [];
    });
    if (line.length > 1) out.push(`<polyline points="${line.map(([x, y]) => `${num(x)},${num(y)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    line.forEach(([x, y, v], i) => {
      out.push(`<circle cx="${num(x)}" cy="${num(y)}" r="3.5" fill="${color}"/>`);
      // The last point's label to its left: it must not run off the canvas.
      const last = i === line.length - 1 && line.length > 1;
      out.push(text(last ? x - 6 : x + 6, y + (k ? -8 : 16), fmtMs(v), `font-size="11" fill="${color}"${last ? ' text-anchor="end"' : ''}`));
    });
    const ly = y0 + 4 + k * 16;
    out.push(`<line x1="${num(plotX + 10)}" y1="${num(ly)}" x2="${num(plotX + 28)}" y2="${num(ly)}" stroke="${color}" stroke-width="2"/>`);
    out.push(text(plotX + 34, ly + 4, name, 'font-size="11" fill="#111827"'));
  });
  if (!pts.length) out.push(text(plotX + plotW / 2, y0 + plotH / 2, '— (no scale run)', 'font-size="12" fill="#6b7280" text-anchor="middle"'));
  return out;
}

/** The whole chart as an SVG document. */
export function benchSvg(d: ChartData): string {
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} role="img" aria-label="${xmlEscape(d.title)}">`);
  parts.push(`<title>${xmlEscape(d.title)}</title>`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(text(20, 30, d.title, 'font-size="18" font-weight="700" fill="#111827"'));
  parts.push(text(20, 50, d.subtitle, 'font-size="12" fill="#4b5563"'));
  parts.push(...barsPanel(d.bars, 20, 100, 540, 260));
  parts.push(...scalePanel(d, 590, 100, 350, 290));
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
