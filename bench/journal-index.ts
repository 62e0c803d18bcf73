/**
 * Part of issue 16's A1 (not the whole benchmark): how fast the journal finds the newest events of one type
 * — what /api/journal and `ballast journal` ask for — in a journal of 500,000 cycles (one snapshot and one
 * decision each, 1,000,000 events), with the schema's (type, id) index and, as the baseline, without it
 * (the (type, time) index alone made SQLite sort every event of the type).
 *
 *   npx tsx bench/journal-index.ts [--cycles N]
 *
 * Prints the median and worst of 20 reads of the newest 150 decisions, each way, and the ratio.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const arg = process.argv.indexOf('--cycles');
const cycles = arg > 0 ? Number(process.argv[arg + 1]) : 500_000;
const file = join(tmpdir(), `ballast-bench-journal-${process.pid}.db`);
const db = new Database(file);
db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, type TEXT NOT NULL, account TEXT, payload TEXT NOT NULL); CREATE INDEX events_type_time ON events(type, time);');
const ins = db.prepare('INSERT INTO events (time, type, account, payload) VALUES (?, ?, NULL, ?)');
// A snapshot summary of a four-class portfolio is about 600 bytes of JSON.
const snapshot = JSON.stringify({ time: 0, prices: { BTC: 60000, ETH: 3000, SOL: 150, ADA: 0.5, DOT: 7 }, accounts: [{ name: 'paper', balances: { BTC: 0.5, ETH: 8, SOL: 80, ADA: 20000, DOT: 1500, USDT: 15000 }, positions: [] }], pad: 'x'.repeat(300) });
db.transaction(() => {
  for (let i = 0; i < cycles; i++) {
    ins.run(i * 60_000, 'snapshot', snapshot);
    ins.run(i * 60_000, 'decision', '{"status":"not-due","trigger":"weekly check not due yet"}');
  }
})();
const newest = db.prepare('SELECT * FROM (SELECT * FROM events WHERE type = ? ORDER BY id DESC LIMIT ?) ORDER BY id');
function measure(): { median: number; worst: number } {
  const ts: number[] = [];
  for (let k = 0; k < 20; k++) {
    const s = performance.now();
    newest.all('decision', 150);
    ts.push(performance.now() - s);
  }
  ts.sort((a, b) => a - b);
  return { median: ts[10]!, worst: ts[19]! };
}
const before = measure();
db.exec('CREATE INDEX events_type_id ON events(type, id)');
const after = measure();
db.close();
rmSync(file, { force: true });
rmSync(`${file}-journal`, { force: true });
const ms = (x: number) => `${x.toFixed(2)} ms`;
console.log(`journal of ${cycles.toLocaleString('en-US')} cycles (${(2 * cycles).toLocaleString('en-US')} events): newest 150 decisions`);
console.log(`  baseline, (type, time) index only: median ${ms(before.median)}, worst ${ms(before.worst)}`);
console.log(`  with the (type, id) index:         median ${ms(after.median)}, worst ${ms(after.worst)}`);
console.log(`  ratio to baseline (median): ${(before.median / after.median).toFixed(0)}× faster`);
