/**
 * A shop's own event log (CSV, TSV or JSON Lines with a header) read as a stream into compact
 * columns, then grouped per user in time order: the same `SequenceDataset` the trainers read.
 *
 * Rows are read with readline, never the whole file at once; each event costs a few bytes in
 * growable typed arrays (user, item, behaviour, time, scene, session), and ids are interned once.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import * as zlib from 'node:zlib';
import { BEHAVIOURS, DataFormatError, type SequenceDataset } from './data.js';
import { SCENE_CODES } from '../src/model/features.js';
import { readDataset } from './node-io.js';

export type LogFormat = 'csv' | 'tsv' | 'jsonl';
export const LOG_FORMATS: readonly LogFormat[] = ['csv', 'tsv', 'jsonl'];

export type EventColumn = 'user' | 'item' | 'event' | 'time' | 'scene' | 'session';
export const EVENT_COLUMNS: readonly EventColumn[] = ['user', 'item', 'event', 'time', 'scene', 'session'];
const REQUIRED_COLUMNS: readonly EventColumn[] = ['user', 'item', 'time'];

/** Header names tried for each column when `--columns` does not name it (compared without case, `_`, `-` or spaces). */
export const DEFAULT_COLUMN_NAMES: Record<EventColumn, readonly string[]> = {
  user: ['user_id', 'userId', 'uid', 'user', 'customer_id', 'customer', 'visitor_id', 'visitorid', 'client_id', 'shopper_id', 'user_pseudo_id', 'customer_unique_id'],
  item: ['item_id', 'itemId', 'item', 'sku', 'product_id', 'productId', 'product', 'iid', 'article_id', 'offer_id', 'stock_code', 'product_code'],
  event: ['event', 'event_type', 'eventType', 'type', 'action', 'behavior', 'behaviour', 'behavior_type', 'event_name', 'interaction'],
  time: ['timestamp', 'time', 'ts', 'event_time', 'eventTime', 'datetime', 'date', 'created_at', 'occurred_at', 'time_stamp', 'event_timestamp', 'order_date', 'invoice_date'],
  scene: ['scene', 'page', 'page_type', 'placement', 'surface'],
  session: ['session', 'session_id', 'sessionId', 'visit_id', 'user_session', 'session_key'],
};

/** The behaviours the models know, by their canonical names (`view` is a click). */
export const BEHAVIOUR_NAMES: Record<string, number> = { click: BEHAVIOURS.click, view: BEHAVIOURS.click, favorite: BEHAVIOURS.favorite, cart: BEHAVIOURS.cart, purchase: BEHAVIOURS.purchase };
export const BEHAVIOUR_LABELS = ['', 'view', 'favorite', 'cart', 'purchase'];

/** Event names understood without `--events` (lower-cased). Numbers 1..4 are the Tianchi codes. */
export const DEFAULT_EVENT_NAMES: Record<string, number> = {
  ...Object.fromEntries(['view', 'click', 'pv', 'page_view', 'pageview', 'detail', 'product_view', 'view_item', 'visit', 'impression_click', '1'].map((n) => [n, BEHAVIOURS.click])),
  ...Object.fromEntries(['favorite', 'favourite', 'fav', 'like', 'wishlist', 'add_to_wishlist', 'save', '2'].map((n) => [n, BEHAVIOURS.favorite])),
  ...Object.fromEntries(['cart', 'add_to_cart', 'addtocart', 'add-to-cart', 'addtobasket', 'add_to_basket', 'basket', '3'].map((n) => [n, BEHAVIOURS.cart])),
  ...Object.fromEntries(['purchase', 'buy', 'order', 'transaction', 'checkout', 'sale', 'conversion', '4'].map((n) => [n, BEHAVIOURS.purchase])),
};

/** Scene names of an optional scene column (anything else: the scene is simulated). */
const SCENE_NAMES: Record<string, number> = { home: SCENE_CODES.home, homepage: SCENE_CODES.home, feed: SCENE_CODES.home, product: SCENE_CODES.product, pdp: SCENE_CODES.product, item: SCENE_CODES.product, cart: SCENE_CODES.cart, basket: SCENE_CODES.cart, checkout: SCENE_CODES.cart, search: SCENE_CODES.search };

/** A malformed row: file, line and (when known) column, so the shop can find and fix it. */
export class EventLogError extends DataFormatError {
  constructor(file: string, line: number, readonly column: string | undefined, readonly reason: string, message: string) {
    super(file, line, column ? `column "${column}": ${message}` : message);
    this.name = 'EventLogError';
  }
}

/** Parses `a=b,c=d` flags (`--columns user=uid,item=sku`, `--events pv=view`). */
export function parseMapping(flag: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) throw new DataFormatError('(arguments)', 0, `--${flag}: expected name=value pairs separated by commas, got "${part}"`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** `--columns user=uid,...`: our column name = the header's name. */
export function parseColumnsFlag(text: string): Partial<Record<EventColumn, string>> {
  const m = parseMapping('columns', text);
  for (const k of Object.keys(m)) {
    if (!(EVENT_COLUMNS as readonly string[]).includes(k)) throw new DataFormatError('(arguments)', 0, `--columns: unknown column "${k}"; use ${EVENT_COLUMNS.join(', ')}`);
  }
  return m as Partial<Record<EventColumn, string>>;
}

/** `--events pv=view,buy=purchase`: the log's event name = a behaviour (view|click, favorite, cart, purchase). */
export function parseEventsFlag(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [raw, canonical] of Object.entries(parseMapping('events', text))) {
    const code = BEHAVIOUR_NAMES[canonical.toLowerCase()];
    if (!code) throw new DataFormatError('(arguments)', 0, `--events: "${raw}=${canonical}": map to one of ${Object.keys(BEHAVIOUR_NAMES).join(', ')}`);
    out[raw.toLowerCase()] = code;
  }
  return out;
}

// ---- timestamps ----

export type TimeKind = 'epoch-seconds' | 'epoch-ms' | 'epoch-us' | 'iso-8601' | 'yyyymmdd';
export const TIME_KIND_LABELS: Record<TimeKind, string> = {
  'epoch-seconds': 'epoch seconds', 'epoch-ms': 'epoch milliseconds', 'epoch-us': 'epoch microseconds', 'iso-8601': 'ISO 8601 dates', yyyymmdd: 'YYYYMMDD days',
};

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}| ?(?:UTC|GMT)(?:[+-]\d{2}:?\d{2})?)?)?$/;
/** A trailing `UTC` / `GMT` zone name (`2019-10-01 00:00:00 UTC`, as some exports write it), with an offset after it or not. */
const ZONE_NAME = / ?(?:UTC|GMT)([+-]\d{2}:?\d{2})?$/;
const NUMBER = /^\d+(?:\.\d+)?$/;
/** Epoch seconds stay below this (year 5138); epoch milliseconds of any date after 1973 are above it. */
const MS_THRESHOLD = 1e11;
/** Epoch milliseconds stay below this (year 5138); epoch microseconds (analytics exports) of any date after 1973 are above it. */
const US_THRESHOLD = 1e14;
/** Dates before this year in a log suggest a misread unit (an Excel serial day read as epoch seconds): the summary says so. */
const PLAUSIBLE_FROM_YEAR = 1995;

function yyyymmddToMs(s: string): number {
  const y = Number(s.slice(0, 4)), m = Number(s.slice(4, 6)), d = Number(s.slice(6, 8));
  if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 || d > 31) return NaN;
  const t = Date.UTC(y, m - 1, d);
  return new Date(t).getUTCDate() === d ? t : NaN;
}

/** The kind of one timestamp value, or undefined when it is none of the forms. */
export function detectTimeKind(value: string): TimeKind | undefined {
  const v = value.trim();
  if (ISO.test(v)) return Number.isFinite(parseTime(v, 'iso-8601')) ? 'iso-8601' : undefined;
  if (!NUMBER.test(v)) return undefined;
  if (/^\d{8}$/.test(v) && Number.isFinite(yyyymmddToMs(v))) return 'yyyymmdd';
  const n = Number(v);
  return n >= US_THRESHOLD ? 'epoch-us' : n >= MS_THRESHOLD ? 'epoch-ms' : 'epoch-seconds';
}

/** Milliseconds since the epoch (UTC) of a value of the given kind; NaN when it is not of that kind. */
export function parseTime(value: string, kind: TimeKind): number {
  const v = value.trim();
  switch (kind) {
    case 'iso-8601': {
      if (!ISO.test(v)) return NaN;
      // A date or date-time without an offset is read as UTC, the same on every machine.
      const named = v.replace(ZONE_NAME, (_, offset: string | undefined) => offset ?? 'Z');
      const withZone = named.length === 10 || /(?:Z|[+-]\d{2}:?\d{2})$/.test(named) ? named.replace(' ', 'T') : `${named.replace(' ', 'T')}Z`;
      return Date.parse(withZone);
    }
    case 'yyyymmdd': return /^\d{8}$/.test(v) ? yyyymmddToMs(v) : NaN;
    case 'epoch-seconds': { if (!NUMBER.test(v)) return NaN; const n = Number(v); return n < MS_THRESHOLD ? n * 1000 : NaN; }
    case 'epoch-ms': { if (!NUMBER.test(v)) return NaN; const n = Number(v); return n >= MS_THRESHOLD && n < US_THRESHOLD ? n : NaN; }
    case 'epoch-us': { if (!NUMBER.test(v)) return NaN; const n = Number(v); return n >= US_THRESHOLD ? n / 1000 : NaN; }
  }
}

/** YYYYMMDD (UTC) of a time in milliseconds: the day number the multi-task split uses. */
export function dayOf(ms: number): number {
  const d = new Date(ms);
  return d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

// ---- rows ----

/** Field separators a CSV header is tried with: the one that splits it into the most fields wins (ties: the first). */
export const CSV_SEPARATORS = [',', ';', '\t', '|'] as const;
const SEPARATOR_NAMES: Record<string, string> = { ',': 'comma', ';': 'semicolon', '\t': 'tab', '|': 'pipe' };

/** The separator of a CSV file from its header line (spreadsheets in many locales export `;`). */
export function detectSeparator(headerLine: string): string {
  let best: string = ',';
  let most = 0;
  for (const sep of CSV_SEPARATORS) {
    const n = splitCsvLine(headerLine, sep)?.length ?? 0;
    if (n > most) { most = n; best = sep; }
  }
  return best;
}

/**
 * A price as shops export it: a currency sign or code before or after the number (`$12.50`, `12.50 EUR`),
 * thousands separators (`1,299.00`, `1.299,00`, `1 299`) and a decimal comma (`12,50`). NaN when it is none of these.
 */
export function parsePrice(raw: string): number {
  let v = raw.trim().replace(/^(?:[A-Za-z]{3}|[^\d\s.,+-])\s*/u, '').replace(/\s*(?:[A-Za-z]{3}|[^\d\s.,])$/u, '').replace(/[\s\u00a0'\u2009]/g, '');
  const comma = v.lastIndexOf(',');
  const point = v.lastIndexOf('.');
  if (comma >= 0 && point >= 0) v = comma > point ? v.replace(/\./g, '').replace(',', '.') : v.replace(/,/g, '');
  else if (comma >= 0) v = /^\d{1,3}(,\d{3})+$/.test(v) ? v.replace(/,/g, '') : /^\d+,\d+$/.test(v) ? v.replace(',', '.') : v;
  return v === '' ? NaN : Number(v);
}

/** Splits one CSV line (RFC 4180 quoting); undefined when a quote is not closed on the line. */
export function splitCsvLine(line: string, sep = ','): string[] | undefined {
  if (!line.includes('"')) return line.split(sep);
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return undefined;
        v += line.slice(i, q);
        if (line[q + 1] === '"') { v += '"'; i = q + 2; continue; }
        i = q + 1;
        break;
      }
      out.push(v);
      if (i >= line.length) return out;
      if (line[i] !== sep) return undefined;
      i++;
    } else {
      const c = line.indexOf(sep, i);
      if (c < 0) { out.push(line.slice(i)); return out; }
      out.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

export function formatOf(file: string, given?: string): LogFormat {
  if (given) {
    if (!(LOG_FORMATS as readonly string[]).includes(given)) throw new DataFormatError('(arguments)', 0, `unknown log format "${given}"; use ${LOG_FORMATS.join(', ')}`);
    return given as LogFormat;
  }
  const lower = file.toLowerCase().replace(/\.gz$/, '');
  if (lower.endsWith('.tsv') || lower.endsWith('.tab')) return 'tsv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson') || lower.endsWith('.json')) return 'jsonl';
  return 'csv';
}

const norm = (s: string) => s.toLowerCase().replace(/[\s_\-]/g, '');

/**
 * Resolves our columns to header positions: flags first, then the usual names. With `partial` (JSON
 * Lines, whose keys are known only as lines are read) a column not found yet is left unresolved
 * instead of an error, and the columns already in `resolved` keep their positions.
 */
export function resolveColumns<C extends string>(
  header: string[], wanted: readonly C[], defaults: Record<C, readonly string[]>, given: Partial<Record<C, string>>, required: readonly C[], file: string,
  partial = false, resolved: Partial<Record<C, number>> = {},
): Partial<Record<C, number>> {
  const at = new Map<string, number>();
  header.forEach((h, i) => { if (!at.has(norm(h))) at.set(norm(h), i); });
  const out: Partial<Record<C, number>> = { ...resolved };
  for (const c of wanted) {
    if (out[c] !== undefined) continue;
    const name = given[c];
    if (name !== undefined) {
      const i = header.indexOf(name);
      const j = i >= 0 ? i : at.get(norm(name));
      if (j === undefined && partial) continue;
      if (j === undefined) throw new EventLogError(file, 1, name, 'missing-column', `--columns ${c}=${name}: no such column in the header (${header.join(', ')})`);
      out[c] = j;
      continue;
    }
    for (const d of defaults[c]) { const j = at.get(norm(d)); if (j !== undefined) { out[c] = j; break; } }
  }
  for (const c of required) {
    if (out[c] === undefined && !partial) {
      throw new EventLogError(file, 1, undefined, 'missing-column', `no ${c} column in the header (${header.join(', ')}); tried ${defaults[c].join(', ')}; name it with --columns ${c}=<header name>`);
    }
  }
  return out;
}

/**
 * Streams a headered CSV/TSV/JSONL file: calls `onRow(fields, lineNo)` with fields in header order.
 * JSON Lines have no header line: the header is the union of the keys of the lines read so far, in
 * first-seen order, and `onHeader(header, true)` is called again whenever a line brings a new key
 * (a key missing from a line is an undefined field).
 */
async function streamRows(
  file: string, format: LogFormat,
  onHeader: (header: string[], partial: boolean, separator: string) => void,
  onRow: (fields: (string | undefined)[], lineNo: number) => void,
  onBad: (err: EventLogError) => void,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  let stream: fs.ReadStream;
  let gzipped = false;
  try {
    fs.accessSync(file, fs.constants.R_OK);
    gzipped = isGzip(file);
    stream = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  } catch (e) {
    throw new DataFormatError(file, 0, `cannot read file: ${(e as Error).message}`);
  }
  // A gzip file (by its first bytes, whatever its name) is decompressed as it streams; progress counts the file's bytes.
  const text = gzipped ? stream.pipe(zlib.createGunzip()) : stream;
  text.setEncoding('utf8');
  let failed: Error | undefined;
  const rl = readline.createInterface({ input: text, crlfDelay: Infinity });
  let lineNo = 0;
  let header: string[] | undefined;
  let sep = format === 'tsv' ? '\t' : ',';
  const keys: string[] = [];
  const keyIndex = new Set<string>();
  const nestedKeys = new Set<string>();
  let nextProgress = 0;
  try {
    for await (const raw of rl) {
      lineNo++;
      if (onProgress && lineNo >= nextProgress) { onProgress(stream.bytesRead); nextProgress = lineNo + 100_000; }
      const line = lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (line.trim() === '') continue;
      if (format === 'jsonl') {
        let obj: unknown;
        try { obj = JSON.parse(line); } catch (e) { onBad(new EventLogError(file, lineNo, undefined, 'bad-json', `not a JSON object: ${(e as Error).message}`)); continue; }
        if (!obj || typeof obj !== 'object' || Array.isArray(obj)) { onBad(new EventLogError(file, lineNo, undefined, 'bad-json', 'each line must be one JSON object')); continue; }
        const o = obj as Record<string, unknown>;
        let grew = false;
        // A key first met holding an object or array is named `<key> (nested)`: no column resolves to it, and
        // the missing-column message tells the shop to flatten it (its values never become "[object Object]").
        for (const k in o) if (!keyIndex.has(k)) { keyIndex.add(k); keys.push(k); if (isNested(o[k])) nestedKeys.add(k); grew = true; }
        if (grew || !header) { header = keys; onHeader(keys.map((k) => (nestedKeys.has(k) ? `${k}${NESTED_MARK}` : k)), true, sep); }
        onRow(keys.map((k) => (o[k] === undefined || o[k] === null || isNested(o[k]) ? undefined : String(o[k]))), lineNo);
        continue;
      }
      if (!header && format === 'csv') sep = detectSeparator(line);
      const fields = format === 'tsv' ? line.split('\t') : splitCsvLine(line, sep);
      if (!header) {
        if (!fields) throw new EventLogError(file, lineNo, undefined, 'bad-header', 'unclosed quote in the header');
        header = fields.map((h) => h.trim());
        onHeader(header, false, sep);
        continue;
      }
      if (!fields) { onBad(new EventLogError(file, lineNo, undefined, 'bad-quotes', 'unclosed quote (quoted fields must not span lines)')); continue; }
      if (fields.length !== header.length) {
        onBad(new EventLogError(file, lineNo, undefined, 'field-count', `expected ${header.length} fields (${SEPARATOR_NAMES[sep]} separated, as the header), got ${fields.length}: "${line.slice(0, 80)}"`));
        continue;
      }
      onRow(fields, lineNo);
    }
  } catch (e) {
    // A damaged .gz ends the stream with a zlib error (Z_BUF_ERROR, Z_DATA_ERROR ...): a typed error, not a crash.
    if (gzipped && String((e as NodeJS.ErrnoException).code ?? '').startsWith('Z_')) failed = e as Error;
    else throw e;
  }
  if (failed) throw new DataFormatError(file, lineNo, `cannot decompress: ${failed.message} (a truncated or damaged .gz file?)`);
  if (!header) throw new DataFormatError(file, 0, 'empty file: expected a header line and rows');
}

/** Whether a file starts with the gzip magic bytes. */
function isGzip(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    return fs.readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

/** How a JSON Lines key holding objects or arrays is named in the header. */
const NESTED_MARK = ' (nested)';
const isNested = (v: unknown): boolean => typeof v === 'object' && v !== null;

/** A JSON line without a required key. */
function missingKey(file: string, lineNo: number, column: string, given: string | undefined, defaults: readonly string[], keys: string[]): EventLogError {
  const tried = given !== undefined ? `"${given}" (--columns)` : defaults.join(', ');
  const nested = keys.filter((k) => k.endsWith(NESTED_MARK));
  const flatten = nested.length > 0
    ? `; keys marked (nested) hold objects or arrays and are not read: if the ${column} is inside one, flatten the file first, one line per item (for example with jq: jq -c '.items[] as $i | del(.items) + {item_id: $i.item_id}')`
    : '';
  return new EventLogError(file, lineNo, undefined, 'missing-field', `no ${column} key in this line (tried ${tried}; keys so far: ${keys.join(', ')}); name it with --${column === 'id' ? 'item-columns' : 'columns'} ${column}=<key>${flatten}`);
}

/** FNV-1a hash of a string. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
  return h | 0;
}

/** Growable typed array. */
class Grow<T extends Int32Array | Float64Array | Uint8Array> {
  data: T;
  length = 0;
  constructor(private make: (n: number) => T, cap = 1 << 16) { this.data = make(cap); }
  push(v: number): void {
    if (this.length === this.data.length) { const d = this.make(this.data.length * 2); d.set(this.data); this.data = d; }
    this.data[this.length++] = v;
  }
  /** The filled part; copied when the spare capacity is large, so it can be freed. */
  done(): T { return (this.length < this.data.length * 0.75 ? this.data.slice(0, this.length) : this.data.subarray(0, this.length)) as T; }
}

export interface EventLogOptions {
  format?: LogFormat;
  /** Header names of our columns (`--columns`). */
  columns?: Partial<Record<EventColumn, string>>;
  /** Extra event names (`--events`), lower-cased raw name -> behaviour code; they take precedence over the defaults. */
  events?: Record<string, number>;
  /** Skip and count up to this many malformed rows instead of stopping at the first (`--skip-bad N`). */
  skipBad?: number;
  /** Called about every 100,000 lines with the bytes read so far and the file size. */
  onProgress?: (bytes: number, total: number, rows: number) => void;
}

export interface LogSummary {
  file: string;
  format: LogFormat;
  /** A CSV's field separator when it is not the comma (detected from the header). */
  separator?: string;
  /** Header name of each resolved column. */
  columns: Partial<Record<EventColumn, string>>;
  rows: number;
  events: number;
  users: number;
  items: number;
  /** Events per behaviour (view, favorite, cart, purchase). */
  byType: Record<string, number>;
  timeKind: TimeKind;
  first: string;
  last: string;
  days: number;
  /** Rows not used, by reason (malformed rows skipped with --skip-bad, unmapped event types). */
  dropped: Record<string, number>;
  /** Raw event names that mapped to no behaviour, with counts. */
  unmappedEvents: Record<string, number>;
  /** Raw event name -> behaviour used. */
  eventMapping: Record<string, string>;
  seconds: number;
}

/** A log in compact columns, file order. Indices: users 0.., items 1.. (0 unused). */
export interface EventLog {
  userIds: string[];
  itemIds: string[];
  user: Int32Array;
  item: Int32Array;
  behaviour: Uint8Array;
  /** Milliseconds since the epoch. */
  time: Float64Array;
  /** Scene code per event (0 = not given). */
  scene: Uint8Array;
  /** Hash of the session id per event (absent without a session column). */
  session?: Int32Array;
  summary: LogSummary;
}

/** Reads an event log as a stream. Malformed rows throw EventLogError unless `skipBad` allows them. */
export async function readEventLog(file: string, options: EventLogOptions = {}): Promise<EventLog> {
  const t0 = performance.now();
  const format = formatOf(file, options.format);
  // --events names first (lower-cased), then the known names compared without case, spaces, '_' or '-'
  // ("Add To Cart" = add_to_cart); looked up once per distinct raw name.
  const given = options.events ?? {};
  const known = new Map(Object.entries(DEFAULT_EVENT_NAMES).map(([k, v]) => [norm(k), v]));
  const eventCodes = new Map<string, number | undefined>();
  const eventCode = (raw: string): number | undefined => {
    if (eventCodes.has(raw)) return eventCodes.get(raw);
    const code = given[raw.toLowerCase()] ?? known.get(norm(raw));
    eventCodes.set(raw, code);
    return code;
  };
  let total = 0;
  try { total = fs.statSync(file).size; } catch { /* reported by streamRows */ }
  const userIndex = new Map<string, number>();
  const itemIndex = new Map<string, number>();
  const userIds: string[] = [];
  const itemIds: string[] = [''];
  const user = new Grow((n) => new Int32Array(n));
  const item = new Grow((n) => new Int32Array(n));
  const beh = new Grow((n) => new Uint8Array(n));
  const time = new Grow((n) => new Float64Array(n));
  const scene = new Grow((n) => new Uint8Array(n));
  const session = new Grow((n) => new Int32Array(n));
  const dropped: Record<string, number> = {};
  const unmapped: Record<string, number> = {};
  const used: Record<string, string> = {};
  const byType: Record<string, number> = {};
  let rows = 0;
  let bad = 0;
  let cols: Partial<Record<EventColumn, number>> = {};
  let header: string[] = [];
  let kind: TimeKind | undefined;
  let minT = Infinity, maxT = -Infinity;
  const skipBad = options.skipBad ?? 0;

  const onBad = (err: EventLogError) => {
    bad++;
    if (bad > skipBad) {
      if (skipBad > 0) err.message += ` (more than --skip-bad ${skipBad} malformed rows)`;
      else err.message += ' (or pass --skip-bad N to skip and count up to N such rows)';
      throw err;
    }
    dropped[`malformed: ${err.reason}`] = (dropped[`malformed: ${err.reason}`] ?? 0) + 1;
  };

  let separator = ',';
  await streamRows(file, format, (h, partial, sep) => {
    header = h;
    separator = sep;
    cols = resolveColumns(h, EVENT_COLUMNS, DEFAULT_COLUMN_NAMES, options.columns ?? {}, REQUIRED_COLUMNS, file, partial, cols);
  }, (f, lineNo) => {
    rows++;
    const colName = (c: EventColumn) => header[cols[c]!];
    // Only JSON Lines can lack a field: a line without one of the required keys.
    for (const c of REQUIRED_COLUMNS) if (cols[c] === undefined || f[cols[c]!] === undefined) return onBad(missingKey(file, lineNo, c, options.columns?.[c], DEFAULT_COLUMN_NAMES[c], header));
    const u = f[cols.user!]?.trim();
    const it = f[cols.item!]?.trim();
    if (!u) return onBad(new EventLogError(file, lineNo, colName('user'), 'empty-id', 'empty user id'));
    if (!it) return onBad(new EventLogError(file, lineNo, colName('item'), 'empty-id', 'empty item id'));
    const tv = f[cols.time!]?.trim() ?? '';
    if (!kind) {
      kind = detectTimeKind(tv);
      if (!kind) return onBad(new EventLogError(file, lineNo, colName('time'), 'bad-time', `cannot read "${tv}" as a timestamp (epoch seconds, milliseconds or microseconds, ISO 8601 or YYYYMMDD)`));
    }
    const t = parseTime(tv, kind);
    if (!Number.isFinite(t)) return onBad(new EventLogError(file, lineNo, colName('time'), 'bad-time', `cannot read "${tv}" as ${TIME_KIND_LABELS[kind]} (the form of the first timestamp)`));
    let b: number = BEHAVIOURS.click;
    if (cols.event !== undefined) {
      const raw = (f[cols.event] ?? '').trim();
      const code = eventCode(raw);
      if (!code) {
        unmapped[raw] = (unmapped[raw] ?? 0) + 1;
        dropped['unmapped event type'] = (dropped['unmapped event type'] ?? 0) + 1;
        return;
      }
      used[raw] = BEHAVIOUR_LABELS[code];
      b = code;
    }
    let ui = userIndex.get(u);
    if (ui === undefined) { ui = userIds.length; userIndex.set(u, ui); userIds.push(u); }
    let ii = itemIndex.get(it);
    if (ii === undefined) { ii = itemIds.length; itemIndex.set(it, ii); itemIds.push(it); }
    user.push(ui); item.push(ii); beh.push(b); time.push(t);
    byType[BEHAVIOUR_LABELS[b]] = (byType[BEHAVIOUR_LABELS[b]] ?? 0) + 1;
    if (t < minT) minT = t;
    if (t > maxT) maxT = t;
    const sc = cols.scene !== undefined ? SCENE_NAMES[(f[cols.scene] ?? '').trim().toLowerCase()] ?? 0 : 0;
    scene.push(sc);
    if (cols.session !== undefined) {
      // Only "same session as this shopper's previous event?" is asked: a hash, not a map of every session id.
      session.push(hash32((f[cols.session] ?? '').trim()));
    }
  }, onBad, options.onProgress && ((bytes) => options.onProgress!(bytes, total, rows)));

  const n = user.length;
  if (n === 0) {
    const seen = Object.entries(unmapped).sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => `${k} (${v})`).join(', ');
    throw new DataFormatError(file, 0, seen
      ? `no event mapped to a behaviour; event types found: ${seen}; map them with --events name=view|favorite|cart|purchase`
      : 'no events found');
  }
  const resolved: Partial<Record<EventColumn, string>> = {};
  for (const c of EVENT_COLUMNS) if (cols[c] !== undefined) resolved[c] = header[cols[c]!];
  const times = time.done();
  const days = new Set<number>();
  // Distinct days without a per-event pass over a Set of millions: step through the sorted range.
  for (let d = Math.floor(minT / 864e5); d <= Math.floor(maxT / 864e5); d++) days.add(d);
  return {
    userIds, itemIds, user: user.done(), item: item.done(), behaviour: beh.done(), time: times, scene: scene.done(),
    session: cols.session !== undefined ? session.done() : undefined,
    summary: {
      file, format, ...(format === 'csv' && separator !== ',' ? { separator } : {}), columns: resolved, rows, events: n, users: userIds.length, items: itemIds.length - 1, byType,
      timeKind: kind!, first: new Date(minT).toISOString(), last: new Date(maxT).toISOString(), days: days.size,
      dropped, unmappedEvents: unmapped, eventMapping: used, seconds: (performance.now() - t0) / 1000,
    },
  };
}

/** The human summary of what was read. */
export function describeLog(s: LogSummary): string {
  const lines = [
    `read ${s.file} (${s.format}${s.separator ? `, ${SEPARATOR_NAMES[s.separator]} separated` : ''}): ${s.rows} rows, ${s.events} events, ${s.users} users, ${s.items} items in ${s.seconds.toFixed(1)} s (${Math.round(s.rows / Math.max(s.seconds, 1e-3))} rows/s)`,
    `  columns: ${Object.entries(s.columns).map(([k, v]) => `${k}=${v}`).join(', ')}`,
    `  events per type: ${Object.entries(s.byType).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  event names: ${Object.entries(s.eventMapping).map(([k, v]) => `${k}=${v}`).join(', ') || '(no event column: every row is a view)'}`,
    `  timestamps look like ${TIME_KIND_LABELS[s.timeKind]}, ${s.first.slice(0, 10)} .. ${s.last.slice(0, 10)} (${s.days} days)${Number(s.first.slice(0, 4)) < PLAUSIBLE_FROM_YEAR ? `; dates before ${PLAUSIBLE_FROM_YEAR}: if the time column holds another unit (Excel serial days, a local format), convert it to epoch seconds or ISO 8601` : ''}`,
  ];
  const dropped = Object.entries(s.dropped);
  lines.push(`  dropped rows: ${dropped.length ? dropped.map(([k, v]) => `${v} ${k}`).join(', ') : 'none'}`);
  const un = Object.entries(s.unmappedEvents).sort((a, b) => b[1] - a[1]);
  if (un.length) lines.push(`  unmapped event types (map with --events name=view|favorite|cart|purchase): ${un.slice(0, 10).map(([k, v]) => `"${k}" ${v}`).join(', ')}`);
  return lines.join('\n');
}

/** The log per user in time order (file order among equal times). */
export interface GroupedLog {
  dataset: SequenceDataset & { dates: Int32Array[] };
  /** Per user, the scene code of each step (0 = not given). */
  scenes: Uint8Array[];
  /** Per user, 1 where a step opens a session (session column, else a gap over `sessionGapMs`, else a new day). */
  sessionStarts: Uint8Array[];
}

export const SESSION_GAP_MS = 30 * 60 * 1000;

/**
 * Groups the columns per user in time order. Users and items are indexed in order of first
 * appearance in time (as the `tianchi` reader does), so a log exported from another format
 * gives the same dataset.
 */
export function groupLog(log: EventLog): GroupedLog {
  const n = log.user.length;
  // Stable order by time; most logs are already sorted, which costs one pass.
  let order: Uint32Array | undefined;
  for (let i = 1; i < n; i++) if (log.time[i] < log.time[i - 1]) { order = new Uint32Array(n); break; }
  if (order) {
    for (let i = 0; i < n; i++) order[i] = i;
    const t = log.time;
    order.sort((a, b) => t[a] - t[b] || a - b);
  }
  const at = (k: number) => (order ? order[k] : k);
  // Re-index users and items by first appearance in time order.
  const userMap = new Int32Array(log.userIds.length).fill(-1);
  const itemMap = new Int32Array(log.itemIds.length);
  const users: string[] = [];
  const itemIds = [''];
  const counts: number[] = [];
  for (let k = 0; k < n; k++) {
    const e = at(k);
    const u = log.user[e];
    if (userMap[u] < 0) { userMap[u] = users.length; users.push(log.userIds[u]); counts.push(0); }
    counts[userMap[u]]++;
    const it = log.item[e];
    if (itemMap[it] === 0) { itemMap[it] = itemIds.length; itemIds.push(log.itemIds[it]); }
  }
  const sequences = counts.map((c) => new Int32Array(c));
  const behaviours = counts.map((c) => new Uint8Array(c));
  const dates = counts.map((c) => new Int32Array(c));
  const scenes = counts.map((c) => new Uint8Array(c));
  const sessionStarts = counts.map((c) => new Uint8Array(c));
  const fill = new Int32Array(users.length);
  const lastTime = new Float64Array(users.length);
  const lastSession = new Int32Array(users.length);
  let dayCache = -1, dayCacheMs = NaN;
  for (let k = 0; k < n; k++) {
    const e = at(k);
    const u = userMap[log.user[e]];
    const j = fill[u]++;
    const t = log.time[e];
    sequences[u][j] = itemMap[log.item[e]];
    behaviours[u][j] = log.behaviour[e];
    const dayMs = Math.floor(t / 864e5);
    if (dayMs !== dayCacheMs) { dayCacheMs = dayMs; dayCache = dayOf(t); }
    dates[u][j] = dayCache;
    scenes[u][j] = log.scene[e];
    let opens: boolean;
    if (j === 0) opens = true;
    else if (log.session) opens = log.session[e] !== lastSession[u];
    else opens = t - lastTime[u] > SESSION_GAP_MS || dates[u][j - 1] !== dayCache;
    sessionStarts[u][j] = opens ? 1 : 0;
    lastTime[u] = t;
    if (log.session) lastSession[u] = log.session[e];
  }
  return {
    dataset: { users, sequences, behaviours, dates, itemIds, numItems: itemIds.length - 1, numInteractions: n },
    scenes, sessionStarts,
  };
}

// ---- item file ----

export type ItemColumn = 'id' | 'category' | 'brand' | 'price' | 'title' | 'available';
export const ITEM_COLUMNS: readonly ItemColumn[] = ['id', 'category', 'brand', 'price', 'title', 'available'];
export const DEFAULT_ITEM_COLUMN_NAMES: Record<ItemColumn, readonly string[]> = {
  id: ['id', 'item_id', 'itemId', 'sku', 'product_id', 'productId', 'item', 'product', 'article_id', 'stock_code', 'product_code'],
  category: ['category', 'category_id', 'categoryId', 'cat', 'cat_id', 'category_name', 'product_type'],
  brand: ['brand', 'brand_id', 'brandId', 'manufacturer', 'vendor'],
  price: ['price', 'unit_price', 'amount', 'price_eur', 'price_usd'],
  title: ['title', 'name', 'product_name', 'item_name', 'description'],
  available: ['available', 'availability', 'in_stock', 'instock', 'is_available', 'active'],
};

export interface ItemTable {
  ids: string[];
  category: string[];
  brand: string[];
  /** NaN where the file has no price. */
  price: Float64Array;
  title: string[];
  /** 1 available, 0 not (missing column: all available). */
  available: Uint8Array;
  summary: { file: string; items: number; columns: Partial<Record<ItemColumn, string>>; categories: number; brands: number; withPrice: number; unavailable: number; dropped: Record<string, number> };
}

/** Values of an item file's price that mean "no price" (as an empty field does), not a malformed row. */
const MISSING_WORDS = new Set(['n/a', 'na', 'null', 'none', 'nan', '-', '--', 'undefined']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'n', 'out_of_stock', 'outofstock', 'out of stock', 'out-of-stock', 'unavailable', 'discontinued', 'sold_out', 'soldout', 'sold out', 'inactive']);

/** Reads an item file (CSV, TSV or JSONL with a header). */
export async function readItemFile(file: string, options: { format?: LogFormat; columns?: Partial<Record<ItemColumn, string>>; skipBad?: number } = {}): Promise<ItemTable> {
  const format = formatOf(file, options.format);
  const t: ItemTable = { ids: [], category: [], brand: [], price: new Float64Array(0), title: [], available: new Uint8Array(0), summary: { file, items: 0, columns: {}, categories: 0, brands: 0, withPrice: 0, unavailable: 0, dropped: {} } };
  const price = new Grow((n) => new Float64Array(n));
  const avail = new Grow((n) => new Uint8Array(n));
  const seen = new Set<string>();
  let cols: Partial<Record<ItemColumn, number>> = {};
  let header: string[] = [];
  let bad = 0;
  const skipBad = options.skipBad ?? 0;
  const onBad = (err: EventLogError) => {
    if (++bad > skipBad) { err.message += skipBad ? ` (more than --skip-bad ${skipBad} malformed rows)` : ' (or pass --skip-bad N to skip and count up to N such rows)'; throw err; }
    t.summary.dropped[`malformed: ${err.reason}`] = (t.summary.dropped[`malformed: ${err.reason}`] ?? 0) + 1;
  };
  await streamRows(file, format, (h, partial) => {
    header = h;
    cols = resolveColumns(h, ITEM_COLUMNS, DEFAULT_ITEM_COLUMN_NAMES, options.columns ?? {}, ['id'], file, partial, cols);
  }, (f, lineNo) => {
    if (cols.id === undefined || f[cols.id] === undefined) return onBad(missingKey(file, lineNo, 'id', options.columns?.id, DEFAULT_ITEM_COLUMN_NAMES.id, header));
    const id = f[cols.id!]?.trim();
    if (!id) return onBad(new EventLogError(file, lineNo, header[cols.id!], 'empty-id', 'empty item id'));
    let p = NaN;
    if (cols.price !== undefined) {
      const raw = (f[cols.price] ?? '').trim();
      if (raw !== '' && !MISSING_WORDS.has(raw.toLowerCase())) {
        p = parsePrice(raw);
        if (!Number.isFinite(p) || p < 0) return onBad(new EventLogError(file, lineNo, header[cols.price], 'bad-price', `price "${raw}" is not a non-negative number`));
      }
    }
    if (seen.has(id)) { t.summary.dropped['duplicate id'] = (t.summary.dropped['duplicate id'] ?? 0) + 1; return; }
    seen.add(id);
    t.ids.push(id);
    t.category.push(cols.category !== undefined ? (f[cols.category] ?? '').trim() : '');
    t.brand.push(cols.brand !== undefined ? (f[cols.brand] ?? '').trim() : '');
    t.title.push(cols.title !== undefined ? (f[cols.title] ?? '').trim() : '');
    price.push(p);
    avail.push(cols.available !== undefined && FALSE_WORDS.has((f[cols.available] ?? '').trim().toLowerCase()) ? 0 : 1);
  }, onBad);
  t.price = price.done();
  t.available = avail.done();
  for (const c of ITEM_COLUMNS) if (cols[c] !== undefined) t.summary.columns[c] = header[cols[c]!];
  t.summary.items = t.ids.length;
  t.summary.categories = new Set(t.category.filter((c) => c !== '')).size;
  t.summary.brands = new Set(t.brand.filter((b) => b !== '')).size;
  t.summary.withPrice = t.price.reduce((s, p) => s + (Number.isFinite(p) ? 1 : 0), 0);
  t.summary.unavailable = t.available.reduce((s, a) => s + (a ? 0 : 1), 0);
  if (t.ids.length === 0) throw new DataFormatError(file, 0, 'no items found');
  return t;
}

export function describeItems(s: ItemTable['summary']): string {
  const dropped = Object.entries(s.dropped);
  return `read ${s.file}: ${s.items} items, ${s.categories} categories, ${s.brands} brands, ${s.withPrice} with a price, ${s.unavailable} unavailable; columns ${Object.entries(s.columns).map(([k, v]) => `${k}=${v}`).join(', ')}${dropped.length ? `; dropped ${dropped.map(([k, v]) => `${v} ${k}`).join(', ')}` : ''}`;
}

/**
 * Any dataset format of `npm run train` / `npm run eval`: `csv`, `tsv` and `jsonl` are a shop's event
 * log with a header (the usual column and event names; `scenerec` maps others), the rest `readDataset`'s.
 * The result is the raw per-user log; the featuriser (`modelSequences`) makes the model's steps.
 */
export async function readAnyDataset(file: string, format: string): Promise<SequenceDataset> {
  if ((LOG_FORMATS as readonly string[]).includes(format)) return groupLog(await readEventLog(file, { format: format as LogFormat })).dataset;
  return readDataset(file, format);
}
