/** The generic event-log reader: timestamp forms, column and event mapping, bad rows, --skip-bad, grouping. */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  detectTimeKind, parseTime, parseColumnsFlag, parseEventsFlag, splitCsvLine, detectSeparator, parsePrice, readEventLog, readItemFile, groupLog, describeLog, EventLogError,
} from '../../training/event-log.js';
import { autoTimeSplit, logDays, mtlDataFromLog } from '../../training/event-log-mtl.js';
import { DataFormatError, parseDataset } from '../../training/data.js';
import { readMtlData } from '../../training/mtl-data.js';
import { BEHAVIOURS } from '../../training/data.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenerec-log-'));
const write = (name: string, text: string) => { const p = path.join(dir, name); fs.writeFileSync(p, text); return p; };

describe('timestamps', () => {
  it('detects each form and reads it as UTC milliseconds', () => {
    const cases: Array<[string, string, number]> = [
      ['1511568000', 'epoch-seconds', Date.UTC(2017, 10, 25)],
      ['1511568000.5', 'epoch-seconds', Date.UTC(2017, 10, 25) + 500],
      ['1511568000000', 'epoch-ms', Date.UTC(2017, 10, 25)],
      ['1511568000000000', 'epoch-us', Date.UTC(2017, 10, 25)],
      ['2017-11-25', 'iso-8601', Date.UTC(2017, 10, 25)],
      ['2017-11-25T10:30:00Z', 'iso-8601', Date.UTC(2017, 10, 25, 10, 30)],
      ['2017-11-25 10:30:00', 'iso-8601', Date.UTC(2017, 10, 25, 10, 30)],
      ['2017-11-25T10:30:00.250+02:00', 'iso-8601', Date.UTC(2017, 10, 25, 8, 30, 0, 250)],
      ['20171125', 'yyyymmdd', Date.UTC(2017, 10, 25)],
    ];
    for (const [v, kind, ms] of cases) {
      expect(detectTimeKind(v), v).toBe(kind);
      expect(parseTime(v, kind as never), v).toBe(ms);
    }
  });
  it('rejects values that are not of the detected form', () => {
    for (const v of ['yesterday', '2017-13-45', '', '-5', '25/11/2017']) expect(detectTimeKind(v), v).toBeUndefined();
    expect(parseTime('1511568000000', 'epoch-seconds')).toBeNaN();
    expect(parseTime('1511568000', 'epoch-ms')).toBeNaN();
    expect(parseTime('1511568000000000', 'epoch-ms')).toBeNaN();
    expect(parseTime('1511568000000', 'epoch-us')).toBeNaN();
    expect(parseTime('20170231', 'yyyymmdd')).toBeNaN();
    expect(parseTime('1511568000', 'iso-8601')).toBeNaN();
  });
});

describe('flags and CSV fields', () => {
  it('maps columns and events, and refuses unknown names', () => {
    expect(parseColumnsFlag('user=uid,item=sku,event=action,time=ts')).toEqual({ user: 'uid', item: 'sku', event: 'action', time: 'ts' });
    expect(() => parseColumnsFlag('shopper=uid')).toThrow(/unknown column "shopper"/);
    expect(() => parseColumnsFlag('user')).toThrow(/name=value/);
    expect(parseEventsFlag('pv=view,fav=favorite,buy=purchase,ATC=cart')).toEqual({ pv: 1, fav: 2, buy: 4, atc: 3 });
    expect(() => parseEventsFlag('pv=looked')).toThrow(/view, favorite, cart, purchase/);
  });
  it('splits quoted CSV fields', () => {
    expect(splitCsvLine('a,"b, c","say ""hi""",')).toEqual(['a', 'b, c', 'say "hi"', '']);
    expect(splitCsvLine('a,"open')).toBeUndefined();
  });

  it('detects the separator from the header (spreadsheet exports use ; in many locales), comma on a tie', () => {
    expect(detectSeparator('user_id,item_id,event,timestamp')).toBe(',');
    expect(detectSeparator('user_id;item_id;event;timestamp')).toBe(';');
    expect(detectSeparator('user_id|item_id|timestamp')).toBe('|');
    expect(detectSeparator('"user; id",item,time')).toBe(',');
    expect(detectSeparator('user')).toBe(',');
  });
});

describe('readEventLog', () => {
  it('reads a CSV with mapped columns and events, and summarises it', async () => {
    const f = write('shop.csv', 'uid,sku,action,ts,page\n' +
      'a,x,pv,1511568000,home\n' + 'a,y,buy,1511568060,cart\n' + 'b,x,fav,1511654400,\n' + 'b,z,search,1511654460,search\n' + 'a,z,pv,1511568030,product\n');
    const log = await readEventLog(f, { columns: { user: 'uid', item: 'sku', event: 'action', time: 'ts', scene: 'page' }, events: parseEventsFlag('pv=view,fav=favorite,buy=purchase') });
    const s = log.summary;
    expect(s).toMatchObject({ rows: 5, events: 4, users: 2, items: 3, timeKind: 'epoch-seconds', byType: { view: 2, purchase: 1, favorite: 1 } });
    expect(s.dropped).toEqual({ 'unmapped event type': 1 });
    expect(s.unmappedEvents).toEqual({ search: 1 });
    expect(describeLog(s)).toContain('timestamps look like epoch seconds, 2017-11-25 .. 2017-11-26 (2 days)');
    // Grouped in time order: a's pv x (t0), pv z (t0+30), buy y (t0+60).
    const g = groupLog(log);
    expect(g.dataset.users).toEqual(['a', 'b']);
    const a = g.dataset.sequences[0];
    expect([...a].map((i) => g.dataset.itemIds[i])).toEqual(['x', 'z', 'y']);
    expect([...g.dataset.behaviours[0]]).toEqual([BEHAVIOURS.click, BEHAVIOURS.click, BEHAVIOURS.purchase]);
    expect([...g.scenes[0]]).toEqual([1, 2, 3]);
    expect([...g.dataset.dates[1]]).toEqual([20171126]);
  });

  it('reads an export whose rows carry the item (one file for --data and --items), with "UTC" after its times', async () => {
    const f = write('one-export.csv', 'event_time,event_type,product_id,category_id,brand,price,user_id,user_session\n' +
      '2019-10-01 00:00:00 UTC,view,44600062,21038,shiseido,35.79,541312140,72d7\n' +
      '2019-10-01 00:00:01 UTC,view,3900821,20530,aqua,33.20,554748717,9333\n' +
      '2019-10-01 00:00:05 UTC,cart,44600062,21038,shiseido,35.79,541312140,72d7\n' +
      '2019-10-02 08:00:04 UTC,purchase,44600062,21038,shiseido,35.79,541312140,72d7\n' +
      '2019-10-03 00:00:05 UTC,remove_from_cart,3900821,20530,aqua,33.20,554748717,9333\n');
    const log = await readEventLog(f);
    expect(log.summary).toMatchObject({ timeKind: 'iso-8601', events: 4, users: 2, items: 2, byType: { view: 2, cart: 1, purchase: 1 },
      columns: { user: 'user_id', item: 'product_id', event: 'event_type', time: 'event_time', session: 'user_session' }, unmappedEvents: { remove_from_cart: 1 } });
    expect(log.summary.last).toBe('2019-10-02T08:00:04.000Z');
    const items = await readItemFile(f);
    expect(items.ids).toEqual(['44600062', '3900821']);
    expect(items.summary).toMatchObject({ columns: { id: 'product_id', category: 'category_id', brand: 'brand', price: 'price' }, dropped: { 'duplicate id': 3 } });
    expect(parseTime('2019-10-01 02:00:00 UTC+02:00', 'iso-8601')).toBe(Date.UTC(2019, 9, 1));
    expect(detectTimeKind('2019-10-01T00:00:00 GMT')).toBe('iso-8601');
  });

  it('says when the dates look misread (an Excel serial day read as epoch seconds)', async () => {
    const f = write('excel.csv', 'user_id,item_id,timestamp\nu1,x,45352.41\nu1,y,45353.5\n');
    const s = (await readEventLog(f)).summary;
    expect(s.timeKind).toBe('epoch-seconds');
    expect(describeLog(s)).toContain('dates before 1995: if the time column holds another unit (Excel serial days');
    expect(describeLog((await readEventLog(write('fine.csv', 'user_id,item_id,timestamp\nu1,x,1709287100\n'))).summary)).not.toContain('dates before');
  });

  it('finds the usual column names without flags, in TSV and JSONL', async () => {
    const tsv = write('a.tsv', 'userId\tproduct_id\tbehavior\tTimestamp\n1\t10\tcart\t2024-03-01T10:00:00Z\n1\t11\tclick\t2024-03-01T09:00:00Z\n');
    const t = await readEventLog(tsv);
    expect(t.summary.columns).toEqual({ user: 'userId', item: 'product_id', event: 'behavior', time: 'Timestamp' });
    expect(t.summary.timeKind).toBe('iso-8601');
    expect([...groupLog(t).dataset.behaviours[0]]).toEqual([1, 3]);
    const jl = write('a.jsonl', '{"user_id":"u","item_id":"i","event":"purchase","ts":1709287200000}\n\n{"user_id":"u","item_id":"j","event":"view","ts":1709287100000}\n');
    const j = await readEventLog(jl);
    expect(j.summary).toMatchObject({ format: 'jsonl', timeKind: 'epoch-ms', events: 2 });
    expect([...groupLog(j).dataset.sequences[0]].map((i) => groupLog(j).dataset.itemIds[i])).toEqual(['j', 'i']);
  });

  it('JSON Lines: the columns are the union of the keys; a key first seen on a later line counts; a line without a required key is a malformed row', async () => {
    const jl = write('union.jsonl', [
      '{"user_id":"u","item_id":"i","ts":1709287200}',
      '{"user_id":"u","item_id":"j","ts":1709287300,"event":"cart","scene":"product"}',
      '{"item_id":"k","ts":1709287400,"user_id":"v","event":"purchase","session_id":"s1","extra":[1]}',
      '{"user_id":"v","item_id":"m","event":"view"}',
    ].join('\n') + '\n');
    await expect(readEventLog(jl)).rejects.toThrow(/union\.jsonl:4: no time key in this line \(tried .*keys so far: user_id, item_id, ts, event, scene, session_id, extra \(nested\)\); name it with --columns time=<key>/);
    const j = await readEventLog(jl, { skipBad: 1 });
    expect(j.summary.columns).toEqual({ user: 'user_id', item: 'item_id', event: 'event', time: 'ts', scene: 'scene', session: 'session_id' });
    expect(j.summary.events).toBe(3);
    expect(j.summary.dropped).toEqual({ 'malformed: missing-field': 1 });
    const g = groupLog(j);
    // The first line has no event key: a view, as in a log without an event column.
    expect(g.dataset.users.map((u, k) => [u, [...g.dataset.behaviours[k]]])).toEqual([['u', [1, 3]], ['v', [4]]]);
    // A key named by --columns may also first appear on a later line.
    const late = write('late.jsonl', '{"uid":"a","sku":"x","t":"2024-03-01"}\n{"uid":"a","sku":"y","t":"2024-03-02","act":"cart"}\n');
    const l = await readEventLog(late, { columns: { user: 'uid', item: 'sku', time: 't', event: 'act' } });
    expect(l.summary.columns.event).toBe('act');
    expect([...groupLog(l).dataset.behaviours[0]]).toEqual([1, 3]);
    // The item file reads the same way.
    const items = write('items.jsonl', '{"id":"x"}\n{"id":"y","category":"c1","price":3}\n{"category":"c2"}\n');
    await expect(readItemFile(items)).rejects.toThrow(/items\.jsonl:3: no id key in this line/);
    const t = await readItemFile(items, { skipBad: 1 });
    expect(t.ids).toEqual(['x', 'y']);
    expect(t.category).toEqual(['', 'c1']);
    expect(t.summary.columns).toMatchObject({ id: 'id', category: 'category', price: 'price' });
  });

  it('names the missing column and what it tried', async () => {
    const f = write('nouser.csv', 'who,item_id,timestamp\na,b,1\n');
    await expect(readEventLog(f)).rejects.toThrow(/no user column in the header \(who, item_id, timestamp\); tried user_id.*--columns user=/);
    await expect(readEventLog(f, { columns: { user: 'shopper' } })).rejects.toThrow(/--columns user=shopper: no such column/);
  });

  it('stops at a malformed row with file, line and column, or skips and counts with skipBad', async () => {
    const f = write('bad.csv', 'user_id,item_id,event,timestamp\n' + 'a,x,view,1700000000\n' + 'a,y,view,notatime\n' + 'b,,view,1700000001\n' + 'b,z,view\n' + 'b,z,view,1700000002000\n' + 'c,w,cart,1700000003\n');
    let err: unknown;
    try { await readEventLog(f); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(EventLogError);
    expect(err).toBeInstanceOf(DataFormatError);
    const e = err as EventLogError;
    expect(e.file).toBe(f);
    expect(e.line).toBe(3);
    expect(e.column).toBe('timestamp');
    expect(e.message).toContain(`${f}:3: column "timestamp": cannot read "notatime" as epoch seconds`);
    expect(e.message).toContain('--skip-bad');
    // Three malformed rows after it: an empty id (line 4, column item_id), a short row (line 5), ms among seconds (line 6).
    await expect(readEventLog(f, { skipBad: 3 })).rejects.toThrow(/:6: column "timestamp".*more than --skip-bad 3/);
    const ok = await readEventLog(f, { skipBad: 4 });
    expect(ok.summary.events).toBe(2);
    expect(ok.summary.dropped).toEqual({ 'malformed: bad-time': 2, 'malformed: empty-id': 1, 'malformed: field-count': 1 });
    await expect(readEventLog(write('short.csv', 'user_id,item_id,timestamp\na,b\n'))).rejects.toThrow(/short\.csv:2: expected 3 fields/);
  });

  it('says which event names it found when none maps', async () => {
    const f = write('events.csv', 'user_id,item_id,event,timestamp\na,b,looked,1\na,c,looked,2\n');
    await expect(readEventLog(f)).rejects.toThrow(/event types found: looked \(2\); map them with --events/);
  });
});

describe('item file and the multi-task data', () => {
  it('reads an item file with quoted titles, missing prices and availability', async () => {
    const f = write('items.csv', 'sku,cat,brand,price,name,in_stock\nx,c1,b1,9.5,"Mug, blue",yes\ny,c2,,,Plate,0\nx,c1,b1,1,dup,1\n');
    const t = await readItemFile(f, { columns: { id: 'sku', category: 'cat' } });
    expect(t.ids).toEqual(['x', 'y']);
    expect(t.title).toEqual(['Mug, blue', 'Plate']);
    expect(Number.isNaN(t.price[1])).toBe(true);
    expect([...t.available]).toEqual([1, 0]);
    expect(t.summary).toMatchObject({ items: 2, categories: 2, brands: 1, withPrice: 1, unavailable: 1, dropped: { 'duplicate id': 1 } });
    await expect(readItemFile(write('items-bad.csv', 'id,price\nx,cheap\n'))).rejects.toThrow(/items-bad\.csv:2: column "price"/);
  });

  it('knows the usual event names in any case, with spaces, _ or - ("Add To Cart"); --events names come first', async () => {
    const f = write('names.csv', 'user_id,item_id,event,timestamp\nu1,x,Product View,1709287100\nu1,y,Add To Cart,1709287200\nu2,x,PURCHASE,1709287300\nu2,y,add-to-wishlist,1709287400\nu2,z,Add To Cart,1709287500\nu2,z,page scroll,1709287600\n');
    const log = await readEventLog(f);
    expect(log.summary.byType).toEqual({ view: 1, cart: 2, purchase: 1, favorite: 1 });
    expect(log.summary.unmappedEvents).toEqual({ 'page scroll': 1 });
    const mapped = await readEventLog(f, { events: parseEventsFlag('Add To Cart=purchase') });
    expect(mapped.summary.byType).toEqual({ view: 1, purchase: 3, favorite: 1 });
  });

  it('reads prices as shops export them: currency signs and codes, thousands separators, decimal commas', () => {
    const cases: Array<[string, number]> = [['12.5', 12.5], ['12,50', 12.5], ['$12.50', 12.5], ['12.50 EUR', 12.5], ['EUR 12.50', 12.5],
      ['€ 1.299,00', 1299], ['1,299.00', 1299], ['1,299', 1299], ['1 299', 1299], ["1'299.50", 1299.5], ['12,5 €', 12.5], ['0', 0]];
    for (const [raw, want] of cases) expect(parsePrice(raw), raw).toBe(want);
    for (const raw of ['cheap', '', '12.5.3', 'n/a']) expect(parsePrice(raw), raw).toBeNaN();
  });

  it('reads a gzip-compressed log as it streams; a damaged one is a DataFormatError, not a crash', async () => {
    const rows = ['user_id,item_id,event,timestamp', ...Array.from({ length: 3000 }, (_, i) => `u${i % 97},i${(i * 7) % 301},view,${1709287100 + i}`)].join('\n') + '\n';
    const plain = await readEventLog(write('plain.csv', rows));
    const gz = path.join(dir, 'log.csv.gz');
    fs.writeFileSync(gz, zlib.gzipSync(rows));
    const packed = await readEventLog(gz);
    expect(packed.summary).toMatchObject({ format: 'csv', rows: 3000, events: plain.summary.events, users: plain.summary.users, items: plain.summary.items });
    expect(Array.from(packed.item)).toEqual(Array.from(plain.item));
    const bytes = fs.readFileSync(gz);
    const cut = path.join(dir, 'cut.csv.gz');
    fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(readEventLog(cut)).rejects.toThrow(/cut\.csv\.gz:\d+: cannot decompress/);
  });

  it('JSON Lines with nested items (analytics exports): the error says to flatten them, and a nested value is never read as a string', async () => {
    const f = write('nested.jsonl', '{"event_name":"view_item","event_timestamp":1709287100123456,"user_pseudo_id":"123.456","items":[{"item_id":"SKU1"}]}\n');
    const err = await readEventLog(f).catch((e) => e);
    expect(err).toBeInstanceOf(EventLogError);
    expect(err.message).toContain('keys so far: event_name, event_timestamp, user_pseudo_id, items (nested)');
    expect(err.message).toContain('keys marked (nested) hold objects or arrays and are not read: if the item is inside one, flatten the file first, one line per item');
    const named = await readEventLog(f, { columns: { item: 'items' } }).catch((e) => e);
    expect(named.message).toMatch(/no item column|no item key/);
    // Flattened (one line per item), the same export reads, with its microsecond times.
    const flat = write('flat.jsonl', '{"event_name":"view_item","event_timestamp":1709287100123456,"user_pseudo_id":"123.456","item_id":"SKU1"}\n');
    const log = await readEventLog(flat);
    expect(log.summary).toMatchObject({ timeKind: 'epoch-us', events: 1, columns: { user: 'user_pseudo_id', item: 'item_id', event: 'event_name', time: 'event_timestamp' } });
  });

  it('reads semicolon-separated files, with decimal commas in prices, and says so', async () => {
    const ev = write('semi.csv', '\uFEFFuser_id;item_id;event;timestamp\r\nu1;x;view;1709287100\r\nu1;"y;1";cart;1709287200\r\nu2;x;purchase;1709287300\r\n');
    const log = await readEventLog(ev);
    expect(log.summary).toMatchObject({ format: 'csv', separator: ';', events: 3, users: 2, items: 2, byType: { view: 1, cart: 1, purchase: 1 } });
    expect(log.itemIds.slice(1)).toEqual(['x', 'y;1']);
    expect(describeLog(log.summary)).toContain('(csv, semicolon separated)');
    const items = await readItemFile(write('semi-items.csv', 'id;category;price;title;available\nx;c1;12,50;"Mug; blue";in stock\ny;c2;3.25 EUR;Plate;Out of stock\nz;c2;n/a;Cup;1\n'));
    expect(Array.from(items.price)).toEqual([12.5, 3.25, NaN]);
    expect(items.title).toEqual(['Mug; blue', 'Plate', 'Cup']);
    expect(Array.from(items.available)).toEqual([1, 0, 1]);
    expect(items.summary).toMatchObject({ withPrice: 2, dropped: {} });
    // A row with another field count names the separator the header was read with.
    await expect(readEventLog(write('semi-bad.csv', 'user_id;item_id;timestamp\nu1,x,1709287100\n'))).rejects.toThrow(/expected 3 fields \(semicolon separated, as the header\), got 1/);
  });

  it('splits by day and refuses a log too short to split', () => {
    expect(autoTimeSplit([20240101, 20240102, 20240103, 20240104])).toEqual({ trainEnd: 20240102, validDay: 20240103, testStart: 20240104 });
    expect(() => autoTimeSplit([20240101, 20240102])).toThrow(/spans 2 day/);
  });

  it('gives the same datasets as the tianchi reader for the same events exported as CSV', async () => {
    // Day-granular events in the Tianchi layout, and the same rows as a shop's CSV with ISO days.
    const rows: string[][] = [];
    const days = ['20190610', '20190611', '20190612', '20190613'];
    for (let u = 0; u < 12; u++) for (let k = 0; k < 9; k++) {
      const day = days[Math.min(3, Math.floor(k / 2 + (u % 3) / 2))];
      rows.push([`u${u}`, `i${(u * 7 + k * 3) % 23}`, String(1 + ((u + k) % 4)), day]);
    }
    // Not sorted by day: both readers sort stably by time.
    rows.reverse();
    const tsv = write('events.tsv', rows.map((r) => r.join('\t')).join('\n') + '\n');
    const names = ['', 'view', 'favorite', 'cart', 'purchase'];
    const csv = write('events-export.csv', 'user_id,item_id,event,date\n' + rows.map((r) => `${r[0]},${r[1]},${names[Number(r[2])]},${r[3].slice(0, 4)}-${r[3].slice(4, 6)}-${r[3].slice(6)}`).join('\n') + '\n');
    const itemsTsv = write('items.tsv', Array.from({ length: 25 }, (_, i) => `i${i}\t1\tc${i % 4}\t${i % 3 === 0 ? 0 : `b${i % 5}`}\t${i * 1.5}`).join('\n') + '\n');
    const itemsCsv = write('items-export.csv', 'id,category,brand,price\n' + Array.from({ length: 25 }, (_, i) => `i${i},c${i % 4},${i % 3 === 0 ? 0 : `b${i % 5}`},${i * 1.5}`).join('\n') + '\n');

    const ref = parseDataset(fs.readFileSync(tsv, 'utf8'), 'tianchi', tsv);
    const g = groupLog(await readEventLog(csv));
    expect(g.dataset.users).toEqual(ref.users);
    expect(g.dataset.itemIds).toEqual(ref.itemIds);
    expect(g.dataset.sequences).toEqual(ref.sequences);
    expect(g.dataset.behaviours).toEqual(ref.behaviours);
    expect(g.dataset.dates).toEqual(ref.dates);

    const split = { trainEnd: 20190611, validDay: 20190612, testStart: 20190613 };
    expect(autoTimeSplit(logDays(g))).toEqual(split);
    const want = readMtlData(tsv, itemsTsv, { ...split, priceBuckets: 10 });
    const got = mtlDataFromLog(g, await readItemFile(itemsCsv), split);
    expect(got.vocab).toEqual(want.vocab);
    expect(got.catalog).toEqual(want.catalog);
    expect(got.events).toEqual(want.events);
    expect(got.features).toEqual(want.features);
  });
});
