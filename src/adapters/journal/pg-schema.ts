/**
 * PostgreSQL journal schema, as numbered migrations (the same rule as ./schema.ts for SQLite: append a
 * migration, never edit a released one; a database at a newer version than this list is refused).
 *
 * One database holds many portfolios: every journal table carries `portfolio`, and a PostgresJournal is
 * opened for one portfolio and only ever sees its rows, so trading state and the kill switch are per
 * portfolio. Ids (events, rebalances, hedges) come from database-wide sequences, so client order ids derived
 * from a rebalance id never collide between portfolios. Numbers are DOUBLE PRECISION (a JS number round-trips
 * exactly); times are epoch milliseconds in BIGINT.
 *
 * Migrations run under `pg_advisory_xact_lock(MIGRATION_LOCK)` so that many workers starting at once migrate
 * once.
 */
export const MIGRATION_LOCK = 0x62616c6c; // 'ball'

export const PG_MIGRATIONS: readonly string[] = [
  // 1: the journal, per portfolio
  `
  CREATE TABLE events (
    id        BIGSERIAL PRIMARY KEY,
    portfolio TEXT   NOT NULL,
    time      BIGINT NOT NULL,
    type      TEXT   NOT NULL,
    account   TEXT,
    payload   TEXT   NOT NULL
  );
  CREATE INDEX events_portfolio_type_time ON events(portfolio, type, time);

  CREATE TABLE rebalances (
    id             BIGSERIAL PRIMARY KEY,
    portfolio      TEXT   NOT NULL,
    started_at     BIGINT NOT NULL,
    finished_at    BIGINT,
    status         TEXT   NOT NULL,
    trigger        TEXT   NOT NULL,
    decision_event BIGINT,
    summary        TEXT
  );
  CREATE INDEX rebalances_portfolio ON rebalances(portfolio, id);

  CREATE TABLE intents (
    portfolio       TEXT    NOT NULL,
    client_order_id TEXT    NOT NULL,
    rebalance_id    BIGINT  NOT NULL,
    leg             INTEGER NOT NULL,
    slice           INTEGER NOT NULL,
    attempt         INTEGER NOT NULL,
    account         TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    type            TEXT    NOT NULL CHECK (type IN ('limit', 'market')),
    amount          DOUBLE PRECISION NOT NULL CHECK (amount > 0),
    price           DOUBLE PRECISION,
    reduce_only     BOOLEAN NOT NULL,
    state           TEXT    NOT NULL,
    filled          DOUBLE PRECISION NOT NULL CHECK (filled >= 0),
    avg_price       DOUBLE PRECISION,
    venue_order_id  TEXT,
    strikes         INTEGER NOT NULL DEFAULT 0,
    purpose         TEXT    NOT NULL,
    reason          TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    -- the fencing token of the account lock under which the intent was written (null: no distributed lock)
    fence           BIGINT,
    PRIMARY KEY (portfolio, client_order_id),
    UNIQUE (portfolio, rebalance_id, leg, slice, attempt, account)
  );
  CREATE INDEX intents_state ON intents(portfolio, state);
  CREATE INDEX intents_rebalance ON intents(portfolio, rebalance_id);
  CREATE INDEX intents_venue ON intents(portfolio, account, venue_order_id);

  CREATE TABLE fills (
    seq             BIGSERIAL,
    portfolio       TEXT    NOT NULL,
    account         TEXT    NOT NULL,
    trade_id        TEXT    NOT NULL,
    venue_order_id  TEXT    NOT NULL,
    client_order_id TEXT,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    amount          DOUBLE PRECISION NOT NULL,
    price           DOUBLE PRECISION NOT NULL,
    cost            DOUBLE PRECISION NOT NULL,
    fee             DOUBLE PRECISION NOT NULL,
    fee_currency    TEXT    NOT NULL,
    time            BIGINT  NOT NULL,
    liquidation     BOOLEAN NOT NULL,
    external        BOOLEAN NOT NULL,
    PRIMARY KEY (portfolio, account, trade_id)
  );
  CREATE INDEX fills_client ON fills(portfolio, client_order_id);
  CREATE INDEX fills_time ON fills(portfolio, time);

  CREATE TABLE funding (
    seq       BIGSERIAL,
    portfolio TEXT   NOT NULL,
    account   TEXT   NOT NULL,
    id        TEXT   NOT NULL,
    symbol    TEXT   NOT NULL,
    time      BIGINT NOT NULL,
    amount    DOUBLE PRECISION NOT NULL,
    currency  TEXT   NOT NULL,
    rate      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (portfolio, account, id)
  );

  CREATE TABLE book (
    portfolio  TEXT   NOT NULL,
    account    TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    qty        DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (portfolio, account, key)
  );
  CREATE TABLE baselines (
    portfolio TEXT   NOT NULL,
    account   TEXT   NOT NULL,
    time      BIGINT NOT NULL,
    PRIMARY KEY (portfolio, account)
  );

  CREATE TABLE hedges (
    id            BIGSERIAL PRIMARY KEY,
    portfolio     TEXT   NOT NULL,
    account       TEXT   NOT NULL,
    class         TEXT   NOT NULL,
    symbol        TEXT   NOT NULL,
    contracts     DOUBLE PRECISION NOT NULL,
    entry_price   DOUBLE PRECISION NOT NULL,
    opened_at     BIGINT NOT NULL,
    closed_at     BIGINT,
    open_reason   TEXT   NOT NULL,
    close_reason  TEXT,
    funding_paid  DOUBLE PRECISION NOT NULL DEFAULT 0,
    realised_pnl  DOUBLE PRECISION NOT NULL DEFAULT 0,
    fees          DOUBLE PRECISION NOT NULL DEFAULT 0
  );
  CREATE INDEX hedges_open ON hedges(portfolio, account, symbol, closed_at);

  CREATE TABLE trading_state (
    portfolio TEXT   PRIMARY KEY,
    state     TEXT   NOT NULL CHECK (state IN ('ACTIVE', 'REDUCING', 'HALTED')),
    by        TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    reason    TEXT   NOT NULL
  );

  CREATE TABLE locks (
    portfolio    TEXT    NOT NULL,
    account      TEXT    NOT NULL,
    instance     TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    host         TEXT    NOT NULL,
    acquired_at  BIGINT  NOT NULL,
    heartbeat_at BIGINT  NOT NULL,
    PRIMARY KEY (portfolio, account)
  );

  CREATE TABLE meta (
    portfolio TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (portfolio, key)
  );
  `,
  // 2: portfolios as data, and the fencing high-water mark of each exchange account
  `
  CREATE TABLE portfolios (
    name       TEXT   PRIMARY KEY,
    source     TEXT   NOT NULL,      -- the portfolio file as given (YAML or JSON), validated before saving
    format     TEXT   NOT NULL CHECK (format IN ('yaml', 'json')),
    bindings   TEXT   NOT NULL,      -- JSON: journal account name -> { venue, key } (never a secret)
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );

  -- Highest fencing token seen for an exchange account (Redis lock key). An order whose intent carries a
  -- lower token was written by a worker that lost its lock: it is refused before sending.
  CREATE TABLE fences (
    lock_key TEXT   PRIMARY KEY,
    token    BIGINT NOT NULL
  );
  `,
  // 3: the newest events of a type and pages of them by id through an index (SQLite's migration 3); the
  // history series, pre-valued as it is written (src/core/history.ts, SQLite's migration 4). A portfolio
  // with snapshots but no history rows is marked for a back-fill at the service's next start.
  `
  CREATE INDEX events_portfolio_type_id ON events(portfolio, type, id);

  CREATE TABLE history (
    portfolio      TEXT    NOT NULL,
    level          INTEGER NOT NULL,
    bucket         BIGINT  NOT NULL,
    time           BIGINT  NOT NULL,
    event          BIGINT  NOT NULL,
    tpv            DOUBLE PRECISION NOT NULL,
    tpv_min        DOUBLE PRECISION NOT NULL,
    tpv_max        DOUBLE PRECISION NOT NULL,
    hedge_notional DOUBLE PRECISION NOT NULL,
    names          TEXT    NOT NULL,
    vals           BYTEA   NOT NULL,
    PRIMARY KEY (portfolio, level, bucket)
  );
  INSERT INTO meta (portfolio, key, value)
    SELECT DISTINCT portfolio, 'history.backfill', 'pending' FROM events WHERE type = 'snapshot'
    ON CONFLICT (portfolio, key) DO NOTHING;
  `,
];
