// The benchmark's SVG writer (scripts/bench-svg.ts): for given data — a full run, one with missing
// values and odd labels, and an empty one — the output is well-formed XML (checked by a small
// tokenizer here: every tag closed in order, attributes quoted, entities known, one root <svg>),
// and every number in a coordinate or length attribute is finite.
import t from 'tap';
import { benchSvg, xmlEscape, type ChartData } from '../../scripts/bench-svg';

interface Parsed {
  root: string | undefined;
  elements: { name: string; attrs: Record<string, string> }[];
  texts: string[];
}

/** A strict little XML reader: throws on anything not well-formed (what a browser would refuse). */
function parseXml(xml: string): Parsed {
  const stack: string[] = [];
  const elements: Parsed['elements'] = [];
  const texts: string[] = [];
  let root: string | undefined;
  let i = 0;
  const checkText = (s: string): void => {
    if (/[<>]/.test(s)) throw new Error(`raw < or > in text: ${JSON.stringify(s.slice(0, 40))}`);
    for (const m of s.matchAll(/&([^;\s]*);?/g)) {
      if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);$/.test(m[0])) throw new Error(`bad entity ${JSON.stringify(m[0])}`);
    }
  };
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const chunk = lt < 0 ? xml.slice(i) : xml.slice(i, lt);
    if (chunk.trim()) {
      if (!stack.length) throw new Error(`text outside the root: ${JSON.stringify(chunk.slice(0, 40))}`);
      checkText(chunk);
      texts.push(chunk);
    }
    if (lt < 0) break;
    const gt = xml.indexOf('>', lt);
    if (gt < 0) throw new Error('unterminated tag');
    const tag = xml.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open ?? 'nothing'}>`);
      continue;
    }
    const self = tag.endsWith('/');
    const body = self ? tag.slice(0, -1) : tag;
    const m = /^([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*$/.exec(body);
    if (!m?.[1]) throw new Error(`malformed tag <${tag.slice(0, 60)}>`);
    const attrs: Record<string, string> = {};
    for (const a of (m[2] ?? '').matchAll(/([\w:-]+)="([^"]*)"/g)) {
      if (a[1] === undefined || a[2] === undefined) continue;
      if (a[1] in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      checkText(a[2]);
      attrs[a[1]] = a[2];
    }
    if (!stack.length) {
      if (root !== undefined) throw new Error('a second root element');
      root = m[1];
    }
    elements.push({ name: m[1], attrs });
    if (!self) stack.push(m[1]);
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(' > ')}`);
  return { root, elements, texts };
}

const NUMERIC = ['x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'width', 'height', 'rx'];

function numbersFinite(p: Parsed): string[] {
  const bad: string[] = [];
  for (const e of p.elements) {
    for (const k of NUMERIC) {
      const v = e.attrs[k];
      if (v !== undefined && !Number.isFinite(Number(v))) bad.push(`<${e.name} ${k}="${v}">`);
    }
    for (const k of ['points', 'viewBox']) {
      const v = e.attrs[k];
      if (v === undefined) continue;
      for (const n of v.split(/[\s,]+/).filter(Boolean)) if (!Number.isFinite(Number(n))) bad.push(`<${e.name} ${k}> has ${n}`);
    }
  }
  return bad;
}

const FULL: ChartData = {
  title: 'oci-slaac-hook: time to a usable IPv6 address',
  subtitle: 'Measured 2026-11-30 on a 2-CPU machine',
  bars: [
    { label: 'ours, strict DAD', ms: 1104, p90: 1227 },
    { label: 'ours, optimistic DAD', ms: 140, p90: 261 },
    { label: 'CNI macvlan + kernel DAD', ms: 1446, p90: 1975 },
    { label: "kernel's own SLAAC", ms: 3195, p90: 3500 },
  ],
  scale: [
    { n: 10, p50: 120, p99: 300 },
    { n: 100, p50: 130, p99: 420 },
    { n: 1000, p50: 180, p99: 900 },
  ],
  baselineMs: 60,
  baselineLabel: '`node -e 0`',
};

t.test('a full chart is well-formed SVG with finite numbers', async (t) => {
  const svg = benchSvg(FULL);
  const p = parseXml(svg);
  t.equal(p.root, 'svg');
  t.strictSame(numbersFinite(p), [], 'every coordinate finite');
  t.notMatch(svg, /NaN|Infinity|undefined/, 'no NaN, Infinity or undefined anywhere');
  t.equal(p.elements.filter((e) => e.name === 'rect').length, 1 + FULL.bars.length, 'background + one bar per subject');
  t.equal(p.elements.filter((e) => e.name === 'polyline').length, 2, 'p50 and p99 curves');
  t.ok(p.texts.some((x) => x.includes('1.10 s')), 'the strict median is labelled');
  t.ok(p.texts.some((x) => x.includes('N = 1000')), 'the x axis names N = 1000');
});

t.test('missing values, odd labels and no scale run still give well-formed SVG', async (t) => {
  const svg = benchSvg({
    title: 'a <b> & "c"',
    subtitle: "it's <measured>",
    bars: [
      { label: 'none yet & <nothing>', ms: null },
      { label: 'not a number', ms: Number.NaN, p90: Number.POSITIVE_INFINITY },
      { label: 'zero', ms: 0 },
    ],
    scale: [
      { n: 10, p50: null, p99: Number.NaN },
      { n: 0, p50: 5, p99: 5 },
      { n: 100, p50: 7, p99: null },
    ],
    baselineMs: Number.NaN,
  });
  const p = parseXml(svg);
  t.equal(p.root, 'svg');
  t.strictSame(numbersFinite(p), []);
  t.notMatch(svg, /NaN|Infinity|undefined/);
  t.ok(p.texts.some((x) => x.includes('&lt;b&gt; &amp; &quot;c&quot;')), 'the title escaped');
  const empty = parseXml(benchSvg({ title: 'x', subtitle: 'y', bars: [], scale: [] }));
  t.equal(empty.root, 'svg');
  t.strictSame(numbersFinite(empty), []);
});

t.test('the checker itself refuses what is not well-formed', async (t) => {
  t.throws(() => parseXml('<svg><g></svg>'));
  t.throws(() => parseXml('<svg><text>a < b</text></svg>'));
  t.throws(() => parseXml('<svg x=1></svg>'));
  t.throws(() => parseXml('<svg>&nbsp;</svg>'));
  t.throws(() => parseXml('<svg></svg><svg></svg>'));
  t.strictSame(numbersFinite(parseXml('<svg><rect x="NaN"/></svg>')).length, 1);
  t.equal(xmlEscape(`<&>"'`), '&lt;&amp;&gt;&quot;&apos;');
});
