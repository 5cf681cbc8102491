/**
 * Made-up product names and pictures for the demo catalog. The Tianchi data has neither (items are
 * numeric ids with a numeric category and brand), so both are generated deterministically:
 * - `nameCatalog` (used by scripts/make-demo-catalog.ts) gives every category one product kind
 *   ("Compact power bank") from the word lists below, every brand a made-up name, and every item a
 *   finish and a colour, distinct within its category: title = brand + finish + kind + colour, written into demo/catalog.json with `meta.kind`,
 *   `meta.department` and `meta.colour`.
 * - `productArt` (used by the page) draws the department's silhouette in the item's colour as an
 *   inline SVG: a stand-in for the image URL a real catalog carries.
 * No randomness: the same ids always give the same names and pictures.
 */

/** FNV-1a, 32 bit: a stable hash that does not depend on the runtime. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export type Shape = 'mug' | 'tee' | 'bottle' | 'bag' | 'vase' | 'device' | 'book' | 'shoe' | 'ball' | 'fold' | 'lamp' | 'frame' | 'pen';

/** Departments, each with its silhouette and its product kinds. */
export const DEPARTMENTS: ReadonlyArray<{ name: string; shape: Shape; kinds: readonly string[] }> = [
  { name: 'Kitchen', shape: 'mug', kinds: ['mug', 'teapot', 'kettle', 'rice bowl', 'chopping board', 'frying pan', 'spice jar', 'lunch box', 'coffee grinder', 'tea set', 'steamer basket', 'soup pot', 'travel cup', 'salad bowl'] },
  { name: 'Apparel', shape: 'tee', kinds: ['t-shirt', 'hoodie', 'linen shirt', 'cardigan', 'denim jacket', 'pleated skirt', 'chinos', 'sweatpants', 'polo shirt', 'rain jacket', 'knit sweater', 'summer dress', 'blouse', 'vest'] },
  { name: 'Beauty', shape: 'bottle', kinds: ['face serum', 'night cream', 'lip balm', 'cleansing oil', 'sheet mask', 'sunscreen', 'toner', 'hand cream', 'shampoo', 'body lotion', 'eye cream', 'perfume', 'nail polish', 'hair oil'] },
  { name: 'Bags', shape: 'bag', kinds: ['tote bag', 'backpack', 'crossbody bag', 'wallet', 'card holder', 'duffel bag', 'clutch', 'laptop sleeve', 'belt bag', 'coin purse', 'travel pouch', 'messenger bag'] },
  { name: 'Home', shape: 'vase', kinds: ['vase', 'scented candle', 'throw pillow', 'wall clock', 'desk lamp', 'photo frame', 'storage basket', 'table runner', 'plant pot', 'doormat', 'bath towel', 'duvet cover', 'mirror', 'curtain'] },
  { name: 'Electronics', shape: 'device', kinds: ['phone case', 'charging cable', 'power bank', 'earbuds', 'speaker', 'usb hub', 'phone stand', 'screen protector', 'wireless charger', 'watch band', 'keyboard', 'mouse pad', 'tablet case', 'desk fan'] },
  { name: 'Stationery', shape: 'book', kinds: ['notebook', 'planner', 'fountain pen', 'gel pens', 'sticky notes', 'desk organizer', 'washi tape', 'sketchbook', 'pencil case', 'bookmark set', 'highlighters', 'letter paper'] },
  { name: 'Shoes', shape: 'shoe', kinds: ['sneakers', 'loafers', 'sandals', 'running shoes', 'ankle boots', 'slippers', 'canvas shoes', 'rain boots', 'insoles', 'boat shoes'] },
  { name: 'Toys', shape: 'ball', kinds: ['building blocks', 'plush bear', 'jigsaw puzzle', 'toy car', 'kite', 'yo-yo', 'board game', 'bubble wand', 'wooden train', 'rubber duck', 'card game', 'marbles'] },
];

/** Kinds drawn with another silhouette than their department's (a doormat is no vase). */
const KIND_SHAPES: Readonly<Record<string, Shape>> = {
  'throw pillow': 'fold', 'table runner': 'fold', doormat: 'fold', 'bath towel': 'fold', 'duvet cover': 'fold', curtain: 'fold',
  'sheet mask': 'fold', 'desk lamp': 'lamp', 'desk fan': 'lamp', 'wall clock': 'ball', 'photo frame': 'frame', mirror: 'frame',
  'fountain pen': 'pen', 'gel pens': 'pen', highlighters: 'pen', 'washi tape': 'ball', 'mouse pad': 'frame', keyboard: 'frame',
  'chopping board': 'frame', 'jigsaw puzzle': 'frame', 'board game': 'book', 'card game': 'book', 'pleated skirt': 'tee',
  'storage basket': 'bag', 'lunch box': 'book', 'spice jar': 'bottle', 'travel cup': 'mug', 'rice bowl': 'mug', 'salad bowl': 'mug',
};

/** Qualifiers that make a kind into a category name ("compact" + "power bank"). */
const QUALIFIERS = ['classic', 'compact', 'everyday', 'travel', 'deluxe', 'soft', 'mini', 'studio', 'organic', 'retro', 'slim', 'family'] as const;

/** Colour names and their swatch, used both in the title and in the picture. */
export const COLOURS: Readonly<Record<string, string>> = {
  sage: '#9cb59a', coral: '#f08a6e', navy: '#34477a', mustard: '#d9a634', ivory: '#efe8d6',
  charcoal: '#4a4d55', blush: '#eab3b8', teal: '#2f8f8a', lilac: '#b59bd6', rust: '#b5582f',
  sky: '#82b8e6', olive: '#7d7f3a', cream: '#f3e2b8', plum: '#7b3f66', mint: '#a9dcc3', red: '#d2453b',
};
const COLOUR_NAMES = Object.keys(COLOURS);

/** Finishes that, with the colour, tell the items of one category apart. */
const FINISHES = ['plain', 'striped', 'dotted', 'checked', 'printed', 'ribbed', 'quilted', 'woven', 'washed', 'embroidered', 'two-tone', 'matte'] as const;

const SYLLABLES = ['no', 'var', 'ik', 'lu', 'men', 'ka', 'so', 'ta', 'ro', 'mi', 'ra', 'el', 'din', 'ko', 'sa', 'vel', 'an', 'to', 'bri', 'qu', 'ya', 'zen', 'po', 'li'];

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** A made-up brand name for a brand id (two or three syllables). */
function brandName(brandId: string, salt: number): string {
  const h = fnv1a(`${brandId}:${salt}`);
  const n = 2 + (h % 2);
  let s = '';
  for (let i = 0; i < n; i++) s += SYLLABLES[(h >>> (3 + 5 * i)) % SYLLABLES.length];
  return capital(s);
}

export interface NamedItem {
  title: string;
  /** The category's name ("Compact power bank"). */
  kind: string;
  department: string;
  colour: string;
  /** The brand's made-up name, when the item has a brand. */
  brand?: string;
}

/**
 * Names for a whole catalog: one distinct kind per category (a category hashes to a slot; a taken
 * slot moves on to the next, in category order, so every category keeps its name as long as the
 * set of categories is the same), one distinct made-up name per brand id, one colour per item.
 */
export function nameCatalog(items: ReadonlyArray<{ id: string; category?: string; brand?: string }>): Map<string, NamedItem> {
  const kinds = DEPARTMENTS.flatMap((d) => d.kinds.map((k) => ({ department: d.name, kind: k })));
  const slots = kinds.length * QUALIFIERS.length;
  const categories = [...new Set(items.map((i) => i.category ?? ''))].sort();
  if (categories.length > slots) throw new Error(`nameCatalog: ${categories.length} categories, only ${slots} names`);
  const taken = new Set<number>();
  const usedKinds = new Set<number>();
  const categoryName = new Map<string, { department: string; name: string }>();
  for (const c of categories) {
    let slot = fnv1a(`category:${c}`) % slots;
    // Prefer a kind no other category has yet, so two categories rarely share "mug".
    for (let tries = 0; (taken.has(slot) || (usedKinds.has(slot % kinds.length) && usedKinds.size < kinds.length)) && tries < slots; tries++) {
      slot = (slot + 1) % slots;
    }
    taken.add(slot);
    usedKinds.add(slot % kinds.length);
    const { department, kind } = kinds[slot % kinds.length];
    const qualifier = QUALIFIERS[Math.floor(slot / kinds.length)];
    categoryName.set(c, { department, name: `${qualifier} ${kind}` });
  }
  const brands = new Map<string, string>();
  const brandNames = new Set<string>();
  for (const b of [...new Set(items.map((i) => i.brand).filter((b): b is string => !!b))].sort()) {
    let salt = 0;
    let name = brandName(b, salt);
    while (brandNames.has(name)) name = brandName(b, ++salt);
    brands.set(b, name);
    brandNames.add(name);
  }
  const out = new Map<string, NamedItem>();
  // Within a category every item gets its own finish and colour while there are pairs left (an
  // item hashes to a pair, a taken pair moves on), then a number: no two items share a name.
  const variants = FINISHES.length * COLOUR_NAMES.length;
  const usedVariants = new Map<string, Set<number>>();
  const counts = new Map<string, number>();
  for (const i of items) {
    const { department, name } = categoryName.get(i.category ?? '')!;
    const used = usedVariants.get(i.category ?? '') ?? new Set<number>();
    usedVariants.set(i.category ?? '', used);
    let v = fnv1a(`variant:${i.id}`) % variants;
    let suffix = '';
    if (used.size < variants) {
      while (used.has(v)) v = (v + 1) % variants;
      used.add(v);
    } else {
      const n = (counts.get(i.category ?? '') ?? 1) + 1;
      counts.set(i.category ?? '', n);
      suffix = ` no. ${n}`;
    }
    const colour = COLOUR_NAMES[v % COLOUR_NAMES.length];
    const finish = FINISHES[Math.floor(v / COLOUR_NAMES.length)];
    const brand = i.brand ? brands.get(i.brand) : undefined;
    const title = brand ? `${brand} ${finish} ${name}, ${colour}${suffix}` : `${capital(finish)} ${name}, ${colour}${suffix}`;
    out.set(i.id, { title, kind: capital(name), department, colour, ...(brand ? { brand } : {}) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// pictures

/** Silhouettes in a 100 x 100 box; `c` is the item's colour, `d` a darker shade of it. */
const SHAPES: Record<Shape, (c: string, d: string) => string> = {
  mug: (c, d) => `<path d="M62 44h6a10 10 0 0 1 0 20h-6" fill="none" stroke="${d}" stroke-width="5"/><rect x="30" y="36" width="34" height="40" rx="6" fill="${c}"/><rect x="30" y="36" width="34" height="6" rx="3" fill="${d}"/>`,
  tee: (c, d) => `<path d="M38 24l-18 10 7 14 8-4v34h30V44l8 4 7-14-18-10c-2 6-7 9-12 9s-10-3-12-9z" fill="${c}"/><path d="M38 24c2 6 7 9 12 9s10-3 12-9" fill="none" stroke="${d}" stroke-width="3"/>`,
  bottle: (c, d) => `<rect x="44" y="18" width="12" height="12" rx="2" fill="${d}"/><rect x="34" y="30" width="32" height="48" rx="9" fill="${c}"/><rect x="40" y="46" width="20" height="16" rx="2" fill="#fff" opacity=".55"/>`,
  bag: (c, d) => `<path d="M40 40v-8a10 10 0 0 1 20 0v8" fill="none" stroke="${d}" stroke-width="4"/><path d="M26 40h48l-5 38H31z" fill="${c}"/><rect x="26" y="40" width="48" height="6" fill="${d}"/>`,
  vase: (c, d) => `<path d="M42 20h16v8c0 6 12 12 12 26s-9 24-20 24-20-10-20-24 12-20 12-26z" fill="${c}"/><rect x="41" y="18" width="18" height="5" rx="2" fill="${d}"/>`,
  device: (c, d) => `<rect x="32" y="18" width="36" height="62" rx="7" fill="${d}"/><rect x="35" y="24" width="30" height="48" rx="3" fill="${c}"/><circle cx="50" cy="76" r="2" fill="${c}"/>`,
  book: (c, d) => `<rect x="30" y="20" width="40" height="58" rx="3" fill="${c}"/><rect x="30" y="20" width="7" height="58" rx="2" fill="${d}"/><rect x="44" y="32" width="18" height="3" fill="#fff" opacity=".6"/><rect x="44" y="39" width="12" height="3" fill="#fff" opacity=".6"/>`,
  shoe: (c, d) => `<path d="M20 52c8 2 14 0 20-8l8 6c6 4 14 6 22 8s10 8 10 12H20z" fill="${c}"/><rect x="20" y="68" width="60" height="6" rx="3" fill="${d}"/>`,
  ball: (c, d) => `<circle cx="50" cy="48" r="26" fill="${c}"/><path d="M24 48h52M50 22c10 8 10 44 0 52" fill="none" stroke="${d}" stroke-width="3"/>`,
  fold: (c, d) => `<rect x="22" y="56" width="56" height="20" rx="3" fill="${d}"/><rect x="22" y="40" width="56" height="18" rx="3" fill="${c}"/><rect x="22" y="26" width="56" height="16" rx="3" fill="${d}" opacity=".8"/><path d="M22 48h56" stroke="#fff" stroke-width="2" opacity=".5"/>`,
  lamp: (c, d) => `<path d="M34 24h32l8 24H26z" fill="${c}"/><rect x="48" y="48" width="4" height="24" fill="${d}"/><rect x="36" y="72" width="28" height="6" rx="3" fill="${d}"/>`,
  frame: (c, d) => `<rect x="24" y="24" width="52" height="52" rx="4" fill="${d}"/><rect x="31" y="31" width="38" height="38" rx="2" fill="${c}"/><path d="M31 62l12-12 9 9 7-6 10 9v7H31z" fill="#fff" opacity=".45"/>`,
  pen: (c, d) => `<g transform="rotate(35 50 50)"><rect x="45" y="14" width="10" height="56" rx="3" fill="${c}"/><rect x="45" y="14" width="10" height="12" rx="3" fill="${d}"/><path d="M45 70h10l-5 14z" fill="${d}"/></g>`,
};

function darker(hex: string, f = 0.7): string {
  const n = parseInt(hex.slice(1), 16);
  const ch = (s: number) => Math.round(((n >> s) & 255) * f).toString(16).padStart(2, '0');
  return `#${ch(16)}${ch(8)}${ch(0)}`;
}

/**
 * The item's picture: its department's silhouette in its colour, on a background tinted per
 * category, as an SVG document string (for an <img src="data:…">, or innerHTML).
 */
export function productArt(item: { id: string; category?: string; meta?: Record<string, unknown> }): string {
  const dept = DEPARTMENTS.find((d) => d.name === item.meta?.department) ?? DEPARTMENTS[fnv1a(item.category ?? item.id) % DEPARTMENTS.length];
  const colourName = typeof item.meta?.colour === 'string' && item.meta.colour in COLOURS ? item.meta.colour : COLOUR_NAMES[fnv1a(`colour:${item.id}`) % COLOUR_NAMES.length];
  const c = COLOURS[colourName];
  const kind = typeof item.meta?.kind === 'string' ? item.meta.kind.toLowerCase() : '';
  const special = Object.keys(KIND_SHAPES).find((k) => kind.endsWith(` ${k}`) || kind === k);
  const shape = special ? KIND_SHAPES[special] : dept.shape;
  const hue = fnv1a(`category:${item.category ?? ''}`) % 360;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" role="img" aria-label="${dept.name}, ${colourName}">`
    + `<rect width="100" height="100" fill="hsl(${hue} 40% 94%)"/><ellipse cx="50" cy="82" rx="28" ry="4" fill="#000" opacity=".08"/>`
    + `${SHAPES[shape](c, darker(c))}</svg>`;
}

/** `productArt` as a data: URL for an <img>. */
export const productArtUrl = (item: Parameters<typeof productArt>[0]): string =>
  `data:image/svg+xml;charset=utf-8,${encodeURIComponent(productArt(item))}`;
