/**
 * One stored portfolio's dashboard on `ballast serve`: the single-portfolio dashboard's read model (the same
 * views as `ballast run`'s API: status, portfolio, plan, history, hedges, orders, fills, journal, funding)
 * over that portfolio's rows of the Postgres journal, and its commands — halt / reduce-only / resume write
 * its trading state to the journal (as `ballast halt --portfolio NAME`), rebalance-now queues a manual cycle
 * for the workers. No cycle runs in serve: `lastCycle` is null, the views come from the journal.
 *
 * Read models are kept for the most recently opened portfolios (at most `max`), each reading its journal
 * incrementally; one is rebuilt when its stored file changed.
 */
import { serviceConfig } from '../../adapters/files/portfolio.js';
import { PostgresJournal } from '../../adapters/journal/postgres.js';
import type { SyncPg } from '../../adapters/journal/pg-sync.js';
import { parseStored, type PortfolioStore } from '../../adapters/scale/portfolios.js';
import type { Portfolio } from '../../core/types.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import { ReadModel, type ServiceView } from '../api/read-model.js';

export interface PortfolioView {
  name: string;
  portfolio: Portfolio;
  journal: PostgresJournal;
  model: ReadModel;
}

export class PortfolioViews {
  readonly #open = new Map<string, PortfolioView & { source: string }>();

  constructor(
    readonly o: { url: string; connection: SyncPg; store: PortfolioStore; clock?: Clock; max?: number },
  ) {}

  /** The view of a stored portfolio, or null when there is none by that name. */
  get(name: string): PortfolioView | null {
    const stored = this.o.store.get(name);
    if (!stored) {
      this.#drop(name);
      return null;
    }
    let v = this.#open.get(name);
    if (v && v.source !== stored.source) {
      this.#drop(name);
      v = undefined;
    }
    if (!v) {
      const portfolio = parseStored(stored);
      const journal = new PostgresJournal(this.o.url, { clock: this.o.clock ?? systemClock, portfolio: name, connection: this.o.connection });
      const accounts = serviceConfig(portfolio).accounts;
      const service: ServiceView = {
        lastCycle: null,
        state: () => journal.tradingState(),
        // the portfolio is kept by serve's scheduler and the workers
        status: 'running',
        accounts: accounts.map((a) => a.name).sort(),
        venues: Object.fromEntries(accounts.map((a) => [a.name, { id: stored.bindings[a.name]?.venue !== undefined ? 'paper' : a.exchange }])),
      };
      const model = new ReadModel({ service, journal, portfolio, mode: 'paper', clock: this.o.clock ?? systemClock });
      v = { name, portfolio, journal, model, source: stored.source };
      this.#open.set(name, v);
      const max = this.o.max ?? 50;
      while (this.#open.size > max) this.#drop(this.#open.keys().next().value!);
    } else {
      // most recently used last
      this.#open.delete(name);
      this.#open.set(name, v);
    }
    v.model.refresh();
    return v;
  }

  #drop(name: string): void {
    const v = this.#open.get(name);
    if (!v) return;
    this.#open.delete(name);
    v.journal.close();
  }

  close(): void {
    for (const name of [...this.#open.keys()]) this.#drop(name);
  }
}
