/**
 * Journal schema, as numbered migrations. `schema_version` holds one row: the number of migrations
 * applied. A journal written by a newer ballast (version > MIGRATIONS.length) is refused, never guessed at.
 * Append a migration to change the schema; never edit a released one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the first schema
  `
  CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    INTEGER NOT NULL,
    type    TEXT    NOT NULL,
    account TEXT,
    payload TEXT    NOT NULL
  );
  CREATE INDEX events_type_time ON events(type, time);

  CREATE TABLE rebalances (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    status         TEXT    NOT NULL,
    trigger        TEXT    NOT NULL,
    decision_event INTEGER,
    summary        TEXT
  );

  CREATE TABLE intents (
    client_order_id TEXT    PRIMARY KEY,
    rebalance_id    INTEGER NOT NULL,
    leg             INTEGER NOT NULL,
    slice           INTEGER NOT NULL,
    attempt         INTEGER NOT NULL,
    account         TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    type            TEXT    NOT NULL CHECK (type IN ('limit', 'market')),
    amount          REAL    NOT NULL CHECK (amount > 0),
    price           REAL,
    reduce_only     INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    filled          REAL    NOT NULL CHECK (filled >= 0),
    avg_price       REAL,
    venue_order_id  TEXT,
    strikes         INTEGER NOT NULL DEFAULT 0,
    purpose         TEXT    NOT NULL,
    reason          TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (rebalance_id, leg, slice, attempt, account)
  );
  CREATE INDEX intents_state ON intents(state);
  CREATE INDEX intents_rebalance ON intents(rebalance_id);
  CREATE INDEX intents_venue ON intents(account, venue_order_id);

  CREATE TABLE fills (
    account         TEXT    NOT NULL,
    trade_id        TEXT    NOT NULL,
    venue_order_id  TEXT    NOT NULL,
    client_order_id TEXT,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    amount          REAL    NOT NULL,
    price           REAL    NOT NULL,
    cost            REAL    NOT NULL,
    fee             REAL    NOT NULL,
    fee_currency    TEXT    NOT NULL,
    time            INTEGER NOT NULL,
    liquidation     INTEGER NOT NULL,
    external        INTEGER NOT NULL,
    PRIMARY KEY (account, trade_id)
  );
  CREATE INDEX fills_client ON fills(client_order_id);
  CREATE INDEX fills_time ON fills(time);

  CREATE TABLE funding (
    account  TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    symbol   TEXT    NOT NULL,
    time     INTEGER NOT NULL,
    amount   REAL    NOT NULL,
    currency TEXT    NOT NULL,
    rate     REAL    NOT NULL,
    PRIMARY KEY (account, id)
  );

  CREATE TABLE book (
    account    TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    qty        REAL    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account, key)
  );
  CREATE TABLE baselines (
    account TEXT PRIMARY KEY,
    time    INTEGER NOT NULL
  );

  CREATE TABLE hedges (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account       TEXT    NOT NULL,
    class         TEXT    NOT NULL,
    symbol        TEXT    NOT NULL,
    contracts     REAL    NOT NULL,
    entry_price   REAL    NOT NULL,
    opened_at     INTEGER NOT NULL,
    closed_at     INTEGER,
    open_reason   TEXT    NOT NULL,
    close_reason  TEXT,
    funding_paid  REAL    NOT NULL DEFAULT 0,
    realised_pnl  REAL    NOT NULL DEFAULT 0,
    fees          REAL    NOT NULL DEFAULT 0
  );
  CREATE INDEX hedges_open ON hedges(account, symbol, closed_at);

  CREATE TABLE trading_state (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    state  TEXT    NOT NULL CHECK (state IN ('ACTIVE', 'REDUCING', 'HALTED')),
    by     TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    reason TEXT    NOT NULL
  );

  CREATE TABLE locks (
    account      TEXT    PRIMARY KEY,
    instance     TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    host         TEXT    NOT NULL,
    acquired_at  INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
  );

  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 2: the lock's heartbeat in wall-clock time as well (heartbeat_at is the service clock's, a replay's time),
  // so "locked by another instance" can say how long ago a person would read it.
  `
  ALTER TABLE locks ADD COLUMN heartbeat_wall INTEGER;
  `,
  // 3: the newest events of a type, and pages of them by id, read from an index (no sort of every row of
  // the type: a year of minute cycles is half a million snapshots).
  `
  CREATE INDEX events_type_id ON events(type, id);
  `,
  // 4: the history series, pre-valued as it is written (src/core/history.ts): per level, one row per cycle
  // (level 0) or per time bucket, with the last point's values and TPV's range. A journal written before
  // this has snapshots but no rows: 'history.backfill' = 'pending' asks the service to value them once at
  // start (src/service/history.ts).
  `
  CREATE TABLE history (
    level          INTEGER NOT NULL,
    bucket         INTEGER NOT NULL,
    time           INTEGER NOT NULL,
    event          INTEGER NOT NULL,
    tpv            REAL    NOT NULL,
    tpv_min        REAL    NOT NULL,
    tpv_max        REAL    NOT NULL,
    hedge_notional REAL    NOT NULL,
    names          TEXT    NOT NULL,
    vals           BLOB    NOT NULL,
    PRIMARY KEY (level, bucket)
  ) WITHOUT ROWID;
  INSERT OR IGNORE INTO meta (key, value) SELECT 'history.backfill', 'pending' WHERE EXISTS (SELECT 1 FROM events WHERE type = 'snapshot');
  `,
];
