/**
 * Portfolios as data: validated portfolio files and their account bindings, stored in the Postgres journal
 * database (table `portfolios`, migration 2 in ../journal/pg-schema.ts), one row per portfolio name.
 *
 * - The file is validated with the same parser as `ballast run --config` (parsePortfolio) before it is
 *   stored, and again when a worker loads it; the stored text is the file as given (comments kept).
 * - A binding says where an account of the portfolio trades: `paper` on a simulated venue URL (a running
 *   `ballast sim-venue`), or a live exchange whose keys come from the environment of the worker
 *   (BALLAST_<ACCOUNT>_API_KEY …). Secrets are never stored: the portfolio parser refuses them in the file,
 *   and a binding holds only a venue URL or an exchange name.
 * - Trading state and the kill switch are per portfolio: they live in the journal rows of that portfolio
 *   (`ballast halt --db postgres://… --portfolio NAME`).
 */
import { parsePortfolio, serviceConfig } from '../files/portfolio.js';
import type { Portfolio } from '../../core/types.js';
import { migratePostgres, pgJournalError, redactUrl } from '../journal/postgres.js';
import { SyncPg } from '../journal/pg-sync.js';
import type { RebalanceStatus, TradingState } from '../../ports/journal.js';

/** Where one account of a portfolio trades. */
export interface AccountBinding {
  /** A running simulated venue (`ballast sim-venue`), for paper portfolios. */
  venue?: string;
}

export interface StoredPortfolio {
  name: string;
  source: string;
  format: 'yaml' | 'json';
  bindings: Record<string, AccountBinding>;
  createdAt: number;
  updatedAt: number;
}

export interface PortfolioListing {
  name: string;
  accounts: string[];
  classes: number;
  state: TradingState;
  lastCycle: { id: number; status: RebalanceStatus; startedAt: number; finishedAt: number | null } | null;
  updatedAt: number;
}

export class PortfolioStoreError extends Error {
  override name = 'PortfolioStoreError';
}

/** Names become BullMQ job ids and lock keys: letters, digits, '-', '_', '.' (no ':'), 1–64 characters. */
export const PORTFOLIO_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function checkPortfolioName(name: string): string {
  if (!PORTFOLIO_NAME.test(name)) throw new PortfolioStoreError(`portfolio name "${name}": use 1–64 letters, digits, '-', '_' or '.', starting with a letter or digit`);
  return name;
}

export function parseStored(p: StoredPortfolio): Portfolio {
  return parsePortfolio(p.source, `portfolio ${p.name}`);
}

export class PortfolioStore {
  readonly location: string;
  readonly #db: SyncPg;
  readonly #owns: boolean;

  constructor(url: string, connection?: SyncPg) {
    this.location = redactUrl(url);
    this.#owns = connection === undefined;
    this.#db = connection ?? new SyncPg(url);
    try {
      migratePostgres(this.#db, this.location);
    } catch (e) {
      if (this.#owns) this.#db.close();
      throw pgJournalError(e, this.location, 'open portfolios');
    }
  }

  /**
   * Validate and store a portfolio (replacing one of the same name when `replace`). Throws the parser's
   * InputErrors for a bad file, PortfolioStoreError for a bad name or binding, or when the name is taken.
   */
  add(p: { name: string; source: string; fileName: string; bindings: Record<string, AccountBinding>; time: number; replace?: boolean }): Portfolio {
    checkPortfolioName(p.name);
    const portfolio = parsePortfolio(p.source, p.fileName);
    const accountList = serviceConfig(portfolio).accounts;
    const accounts = new Set(accountList.map((a) => a.name));
    for (const [account, b] of Object.entries(p.bindings)) {
      if (!accounts.has(account)) throw new PortfolioStoreError(`--venue ${account}=…: the portfolio has no account "${account}" (it has ${[...accounts].join(', ')})`);
      if (b.venue !== undefined && !/^https?:\/\/[^\s]+$/.test(b.venue)) throw new PortfolioStoreError(`--venue ${account}=${b.venue}: not an http(s) URL`);
    }
    for (const a of accountList) {
      if (a.exchange === 'paper' && p.bindings[a.name]?.venue === undefined) {
        throw new PortfolioStoreError(`account "${a.name}" is a paper account: bind it to a running simulated venue with --venue ${a.name}=http://127.0.0.1:PORT (ballast sim-venue)`);
      }
    }
    const format = /^\s*[{[]/.test(p.source) ? 'json' : 'yaml';
    const args = [p.name, p.source, format, JSON.stringify(p.bindings), p.time];
    try {
      const n = p.replace
        ? this.#db.query(
            `INSERT INTO portfolios (name, source, format, bindings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (name) DO UPDATE SET source = EXCLUDED.source, format = EXCLUDED.format, bindings = EXCLUDED.bindings, updated_at = EXCLUDED.updated_at`,
            args,
          ).rowCount
        : this.#db.query('INSERT INTO portfolios (name, source, format, bindings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING', args).rowCount;
      if (n !== 1) throw new PortfolioStoreError(`portfolio "${p.name}" already exists (remove it first, or add with --replace)`);
    } catch (e) {
      if (e instanceof PortfolioStoreError) throw e;
      throw pgJournalError(e, this.location, `add portfolio ${p.name}`);
    }
    return portfolio;
  }

  get(name: string): StoredPortfolio | undefined {
    const r = this.#q('SELECT * FROM portfolios WHERE name = $1', [name])[0];
    return r && rowToStored(r);
  }

  all(): StoredPortfolio[] {
    return this.#q('SELECT * FROM portfolios ORDER BY name').map(rowToStored);
  }

  names(): string[] {
    return this.#q<{ name: string }>('SELECT name FROM portfolios ORDER BY name').map((r) => r.name);
  }

  /** Every portfolio with its trading state and last cycle (one query). */
  list(): PortfolioListing[] {
    const rows = this.#q(
      `SELECT p.name, p.source, p.updated_at, COALESCE(t.state, 'ACTIVE') AS state,
              r.id AS r_id, r.status AS r_status, r.started_at AS r_started, r.finished_at AS r_finished
         FROM portfolios p
         LEFT JOIN trading_state t ON t.portfolio = p.name
         LEFT JOIN LATERAL (SELECT id, status, started_at, finished_at FROM rebalances WHERE portfolio = p.name ORDER BY id DESC LIMIT 1) r ON true
        ORDER BY p.name`,
    );
    return rows.map((r) => {
      const pf = parsePortfolio(r.source as string, `portfolio ${r.name as string}`);
      return {
        name: r.name as string,
        accounts: serviceConfig(pf).accounts.map((a) => a.name),
        classes: pf.classes.length,
        state: r.state as TradingState,
        lastCycle:
          r.r_id === null
            ? null
            : { id: r.r_id as number, status: r.r_status as RebalanceStatus, startedAt: r.r_started as number, finishedAt: r.r_finished as number | null },
        updatedAt: r.updated_at as number,
      };
    });
  }

  /** Remove the definition (the portfolio's journal rows stay: they are its history). False when absent. */
  remove(name: string): boolean {
    try {
      return this.#db.query('DELETE FROM portfolios WHERE name = $1', [name]).rowCount === 1;
    } catch (e) {
      throw pgJournalError(e, this.location, `remove portfolio ${name}`);
    }
  }

  close(): void {
    if (this.#owns) this.#db.close();
  }

  #q<R = Record<string, unknown>>(sql: string, params: unknown[] = []): R[] {
    try {
      return this.#db.query<R>(sql, params).rows;
    } catch (e) {
      throw pgJournalError(e, this.location, 'read portfolios');
    }
  }
}

function rowToStored(r: Record<string, unknown>): StoredPortfolio {
  return {
    name: r.name as string,
    source: r.source as string,
    format: r.format as 'yaml' | 'json',
    bindings: JSON.parse(r.bindings as string) as Record<string, AccountBinding>,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}
