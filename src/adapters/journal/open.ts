/**
 * Which journal `--db` names: `postgres://…` (or `postgresql://…`) opens the PostgreSQL journal for one
 * portfolio ('default' unless named); anything else is a SQLite file (the default for one portfolio).
 */
import type { Clock } from '../../ports/clock.js';
import type { Journal } from '../../ports/journal.js';
import { PostgresJournal } from './postgres.js';
import { SqliteJournal } from './sqlite.js';

export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//i.test(db);

export interface OpenJournalOptions {
  clock: Clock;
  /** Postgres only: whose rows. Default 'default'. */
  portfolio?: string;
  /** SQLite only: 'normal' = WAL without a sync on every commit (a replay against a simulated venue). */
  durability?: 'full' | 'normal';
}

export function openJournal(db: string, o: OpenJournalOptions): Journal {
  if (isPostgresUrl(db)) return new PostgresJournal(db, { clock: o.clock, ...(o.portfolio !== undefined ? { portfolio: o.portfolio } : {}) });
  return new SqliteJournal(db, { clock: o.clock, ...(o.durability !== undefined ? { durability: o.durability } : {}) });
}
