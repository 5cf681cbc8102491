/**
 * npx tsx scripts/export-tianchi-csv.ts [--data ../shared/data/tianchi-ecomm] [--out tmp/tianchi-csv]
 *
 * Writes the Tianchi events and items as a shop would export them (CSV with a header, event
 * names, ISO days), so the generic reader can be measured against the `tianchi` format path on
 * the same data. The output is derived from research data: keep it out of the repository.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseFlags } from '../training/cli.js';

const EVENT_NAMES = ['', 'view', 'favorite', 'cart', 'purchase'];

async function* lines(file: string): AsyncGenerator<string> {
  for await (const l of readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity })) if (l.trim()) yield l;
}

async function main() {
  const f = parseFlags(process.argv.slice(2), { data: 'string', out: 'string' });
  const src = (f.data as string) ?? '../shared/data/tianchi-ecomm';
  const out = (f.out as string) ?? 'tmp/tianchi-csv';
  fs.mkdirSync(out, { recursive: true });
  const ev: string[] = ['user_id,item_id,event,timestamp'];
  for await (const l of lines(path.join(src, 'events.tsv'))) {
    const [u, i, b, d] = l.split('\t');
    ev.push(`${u},${i},${EVENT_NAMES[Number(b)]},${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`);
  }
  fs.writeFileSync(path.join(out, 'events.csv'), ev.join('\n') + '\n');
  const it: string[] = ['id,top_category,category,brand,price'];
  for await (const l of lines(path.join(src, 'items.tsv'))) it.push(l.split('\t').join(','));
  fs.writeFileSync(path.join(out, 'items.csv'), it.join('\n') + '\n');
  console.log(`wrote ${path.join(out, 'events.csv')} (${ev.length - 1} events) and ${path.join(out, 'items.csv')} (${it.length - 1} items)`);
}

main().catch((e) => { console.error(e); process.exit(1); });
