/**
 * The real Tianchi files cut to their first users, shared by the multi-task tests: a slice small
 * enough to train and evaluate in a unit test. Tests skip when the data folder is absent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMtlData, type MtlData } from '../../training/mtl-data.js';

export const TIANCHI_DIR = '../shared/data/tianchi-ecomm';
export const TIANCHI_ITEMS = path.join(TIANCHI_DIR, 'items.tsv');
export const hasTianchi = fs.existsSync(path.join(TIANCHI_DIR, 'events.tsv'));

/** Writes the events of the file's first `users` users (lines are grouped by user) into `dir` and reads them with the item table. */
export function tianchiSlice(dir: string, users: number): MtlData {
  const lines = fs.readFileSync(path.join(TIANCHI_DIR, 'events.tsv'), 'utf8').split('\n');
  const seen = new Set<string>();
  const keep = lines.filter((l) => { const u = l.split('\t')[0]; if (seen.size < users) seen.add(u); return l && seen.has(u); });
  const file = path.join(dir, 'events.tsv');
  fs.writeFileSync(file, keep.join('\n'));
  return readMtlData(file, TIANCHI_ITEMS);
}
