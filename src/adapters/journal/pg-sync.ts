/**
 * A synchronous PostgreSQL connection: the Journal port is synchronous ("a write has been committed when the
 * call returns"), and `pg` is asynchronous. One `pg.Client` lives in a worker thread; every query is posted to
 * it over a MessagePort and the calling thread blocks on `Atomics.wait` until the worker has the reply (the
 * same technique as the `synckit` package). The caller therefore sees a COMMITTED write when `query` returns,
 * exactly as with better-sqlite3, and the service, executor and reconciler run unchanged on Postgres.
 *
 * Cost: one thread hop per statement (~0.1 ms on loopback, measured in bench/). Errors come back with the
 * Postgres SQLSTATE `code` so the journal can type them; a worker that does not answer within `timeoutMs`
 * is an 'io' failure, never a silent wait.
 */
import { createRequire } from 'node:module';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

export interface SyncPgError {
  message: string;
  code: string | undefined;
}

export class SyncPgFailure extends Error {
  override name = 'SyncPgFailure';
  readonly code: string | undefined;
  constructor(e: SyncPgError) {
    super(e.message);
    this.code = e.code;
  }
}

/** The worker: plain CommonJS evaluated in the thread (no loader hooks or bundling needed for it). */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const pg = require(workerData.pgPath);
const { port, flag, url, statementTimeoutMs, lockTimeoutMs, connectTimeoutMs } = workerData;
// BIGINT (ids, times in ms) as JS numbers: every value the journal stores is below 2^53.
const types = { getTypeParser: (oid, format) => (oid === 20 ? (v) => Number(v) : pg.types.getTypeParser(oid, format)) };
let client = null;
async function connect() {
  const c = new pg.Client({ connectionString: url, types, statement_timeout: statementTimeoutMs, lock_timeout: lockTimeoutMs, connectionTimeoutMillis: connectTimeoutMs, application_name: 'ballast' });
  c.on('error', () => { client = null; });
  await c.connect();
  client = c;
}
function reply(msg) {
  port.postMessage(msg);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
port.on('message', async (req) => {
  try {
    if (req.op === 'close') {
      if (client) await client.end().catch(() => {});
      client = null;
      reply({ ok: true, rows: [], rowCount: 0 });
      return;
    }
    if (!client) await connect();
    const res = await client.query(req.sql, req.params);
    reply({ ok: true, rows: res.rows, rowCount: res.rowCount ?? 0 });
  } catch (e) {
    // No SQLSTATE: the connection itself failed; drop it so the next statement reconnects.
    if (e && !e.code && client) { try { await client.end(); } catch {} client = null; }
    reply({ ok: false, error: { message: String((e && e.message) || e), code: e && e.code } });
  }
});
`;

export interface SyncPgOptions {
  /** Server-side limit per statement (ms). Default 30 s. */
  statementTimeoutMs?: number;
  /** How long a statement waits for a row or table lock (ms) before failing with SQLSTATE 55P03. Default 5 s. */
  lockTimeoutMs?: number;
  /** How long to wait for a connection (ms). Default 10 s. */
  connectTimeoutMs?: number;
  /** How long the caller waits for any reply before failing with an io error (ms). Default 60 s. */
  timeoutMs?: number;
}

export interface SyncPgResult<R> {
  rows: R[];
  rowCount: number;
}

/** One synchronous Postgres connection (one worker thread). Not shared between journals. */
export class SyncPg {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #flag: Int32Array;
  readonly #timeoutMs: number;
  #closed = false;

  constructor(url: string, options: SyncPgOptions = {}) {
    const require = createRequire(import.meta.url);
    const { port1, port2 } = new MessageChannel();
    this.#flag = new Int32Array(new SharedArrayBuffer(4));
    this.#port = port1;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        pgPath: require.resolve('pg'),
        port: port2,
        flag: this.#flag,
        url,
        statementTimeoutMs: options.statementTimeoutMs ?? 30_000,
        lockTimeoutMs: options.lockTimeoutMs ?? 5_000,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      },
      transferList: [port2],
    });
    // The thread must never keep the process alive on its own.
    this.#worker.unref();
    this.#port.unref();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #call<R>(msg: { op: 'query' | 'close'; sql?: string; params?: unknown[] }): SyncPgResult<R> {
    Atomics.store(this.#flag, 0, 0);
    this.#port.postMessage(msg);
    const waited = Atomics.wait(this.#flag, 0, 0, this.#timeoutMs);
    const got = receiveMessageOnPort(this.#port);
    if (waited === 'timed-out' && got === undefined) {
      throw new SyncPgFailure({ message: `no reply from the database within ${this.#timeoutMs} ms`, code: 'ETIMEDOUT' });
    }
    if (got === undefined) throw new SyncPgFailure({ message: 'the database thread replied without a message', code: undefined });
    const m = got.message as { ok: true; rows: R[]; rowCount: number } | { ok: false; error: SyncPgError };
    if (!m.ok) throw new SyncPgFailure(m.error);
    return { rows: m.rows, rowCount: m.rowCount };
  }

  /** Run one statement ($1, $2… placeholders) and wait for its result. */
  query<R = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): SyncPgResult<R> {
    if (this.#closed) throw new SyncPgFailure({ message: 'the connection is closed', code: 'CLOSED' });
    return this.#call<R>({ op: 'query', sql, params: [...params] });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#call({ op: 'close' });
    } catch {
      // closing a broken connection must not hide the original error
    }
    void this.#worker.terminate();
    this.#port.close();
  }
}
