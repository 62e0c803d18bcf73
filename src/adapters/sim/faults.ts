/**
 * Deterministic fault injection for the simulated venue (the reliability rules of docs/concepts.md).
 *
 * Faults come from three sources, all reproducible:
 *   1. time windows    — `maintenance: [{from, to}]` (every call throws OnMaintenance) and
 *                        `bans: [{from, to}]` (every call throws RateLimitExceeded, retryAfter = to − now);
 *   2. a script        — `script: [{ op, nth | at, fault }]`: fire `fault` on the nth call of `op`
 *                        (1-based, every attempt counts) or on its first call at/after `at`; once each;
 *   3. a seeded PRNG   — `probability: { reject, rateLimit, replyLost, lateFill }` per call, drawn
 *                        from mulberry32(seed) in call order (same seed + same calls = same faults).
 * plus two behaviours:
 *   - `rateLimit: { maxCalls, windowMs, banAfter, banMs }` — a sliding-window limiter: the call that
 *     exceeds maxCalls per windowMs gets RateLimitExceeded with the exact retryAfter; calling again
 *     before retryAfter has passed counts as a violation, and `banAfter` violations start a ban of
 *     `banMs` (HTTP 418 on Binance). A client that honours retryAfter is never banned.
 *   - `notFoundLag: N` — fetchOrder by clientOrderId throws OrderNotFound on the first N such calls
 *     for each order after its creation (the venue's read side lagging its write side).
 *
 * Fault kinds and what the simulator does:
 *   reject      ExchangeNotAvailable before acceptance: nothing happened.
 *   rate-limit  RateLimitExceeded before acceptance: nothing happened.
 *   reply-lost  the call is executed (the order IS placed / canceled), then throws RequestTimeout.
 *   late-fill   cancelOrder only: before the cancel lands, `fraction` (default 1) of the remaining
 *               amount fills at the order's price. Fully filled → the cancel throws OrderNotFound
 *               (the venue's "unknown order"); partially → the rest is canceled and the order is
 *               returned with its fill.
 *   maintenance / ban: windows, see above.
 */

import { Mulberry32 } from '../../model/random.js';
import { ExchangeNotAvailable, OnMaintenance, RateLimitExceeded } from '../../ports/errors.js';

export type ExchangeOp =
  | 'loadMarkets'
  | 'fetchBalance'
  | 'fetchPositions'
  | 'fetchTicker'
  | 'fetchTickers'
  | 'fetchFundingRate'
  | 'fetchFundingHistory'
  | 'createOrder'
  | 'cancelOrder'
  | 'fetchOrder'
  | 'fetchOpenOrders'
  | 'fetchClosedOrders'
  | 'fetchMyTrades'
  | 'setLeverage'
  | 'setMarginMode';

export type ScriptedFaultKind = 'reply-lost' | 'reject' | 'rate-limit' | 'late-fill';
export type FaultKind = ScriptedFaultKind | 'maintenance' | 'ban' | 'not-found-lag';

/** Half-open window [from, to) in epoch ms. */
export interface FaultWindow {
  from: number;
  to: number;
}

export interface ScriptedFault {
  op: ExchangeOp | '*';
  /** Fire on the nth call (1-based) of `op` ('*': of all calls). */
  nth?: number;
  /** Fire on the first call of `op` at or after this time. Neither `nth` nor `at`: the next call of `op`. */
  at?: number;
  fault: ScriptedFaultKind;
  /** late-fill: fraction of the remaining amount that fills in the race (default 1). */
  fraction?: number;
  /** rate-limit: retryAfterMs of the 429 (default config.retryAfterMs). */
  retryAfterMs?: number;
}

export interface RateLimitConfig {
  maxCalls: number;
  windowMs: number;
  /** Calls made while a retry-after is pending before a ban starts. Default: never ban. */
  banAfter?: number;
  banMs?: number;
}

export interface FaultConfig {
  seed?: number;
  probability?: {
    /** createOrder / cancelOrder: executed, then RequestTimeout. */
    replyLost?: number;
    /** Any call: ExchangeNotAvailable before acceptance. */
    reject?: number;
    /** Any call: RateLimitExceeded before acceptance. */
    rateLimit?: number;
    /** cancelOrder: a fill races the cancel. */
    lateFill?: number;
  };
  script?: ScriptedFault[];
  maintenance?: FaultWindow[];
  bans?: FaultWindow[];
  rateLimit?: RateLimitConfig;
  /** retryAfterMs for random / scripted 429s. Default 1000. */
  retryAfterMs?: number;
  /** OrderNotFound for the first N fetchOrder-by-clientOrderId calls per order. Default 0. */
  notFoundLag?: number;
  /** Fraction filled by a random late fill. Default 1. */
  lateFillFraction?: number;
}

/** What to do after the operation ran (faults that strike after acceptance). */
export interface AfterFaults {
  replyLost: boolean;
  /** 0 = no late fill; otherwise the fraction of the remaining amount that fills before the cancel. */
  lateFill: number;
}

export interface InjectedFault {
  time: number;
  op: ExchangeOp;
  call: number;
  fault: FaultKind;
}

export interface FaultStateJSON {
  config: FaultConfig;
  rng: number;
  enabled: boolean;
  calls: Record<string, number>;
  totalCalls: number;
  fired: boolean[];
  triggeredBans: FaultWindow[];
  cooldownUntil: number;
  violations: number;
  recent: number[];
  lookups: Record<string, number>;
  log: InjectedFault[];
}

const NONE: AfterFaults = Object.freeze({ replyLost: false, lateFill: 0 });

export class FaultInjector {
  readonly config: FaultConfig;
  /** Set false to let calls through untouched (e.g. while a test harness sets up state). */
  enabled = true;
  readonly log: InjectedFault[] = [];

  #rng: Mulberry32;
  #calls = new Map<string, number>();
  #totalCalls = 0;
  #fired: boolean[];
  #triggeredBans: FaultWindow[] = [];
  #cooldownUntil = -Infinity;
  #violations = 0;
  #recent: number[] = [];
  #lookups = new Map<string, number>();

  constructor(config: FaultConfig = {}) {
    this.config = structuredClone({ ...config, script: config.script ?? [], maintenance: config.maintenance ?? [], bans: config.bans ?? [] });
    this.#rng = new Mulberry32(config.seed ?? 1);
    this.#fired = this.config.script!.map(() => false);
  }

  /** Add a scripted fault at run time. */
  schedule(fault: ScriptedFault): void {
    this.config.script!.push({ ...fault });
    this.#fired.push(false);
  }

  addMaintenance(window: FaultWindow): void {
    this.config.maintenance!.push({ ...window });
  }

  addBan(window: FaultWindow): void {
    this.config.bans!.push({ ...window });
  }

  /** Calls of `op` so far (every attempt, failed ones included). */
  calls(op: ExchangeOp): number {
    return this.#calls.get(op) ?? 0;
  }

  /**
   * Called at the start of every venue call. Throws the fault that strikes before acceptance, or
   * returns the faults that strike after the operation ran.
   */
  before(op: ExchangeOp, now: number): AfterFaults {
    if (!this.enabled) return NONE;
    const call = (this.#calls.get(op) ?? 0) + 1;
    this.#calls.set(op, call);
    this.#totalCalls++;
    const note = (fault: FaultKind): void => {
      this.log.push({ time: now, op, call, fault });
    };

    for (const w of this.config.maintenance!) {
      if (now >= w.from && now < w.to) {
        note('maintenance');
        throw new OnMaintenance(`sim: ${op}: venue under maintenance until ${w.to}`, w.to, { exchange: 'sim' });
      }
    }
    for (const w of [...this.config.bans!, ...this.#triggeredBans]) {
      if (now >= w.from && now < w.to) {
        note('ban');
        throw new RateLimitExceeded(`sim: ${op}: banned until ${w.to}`, w.to - now, { exchange: 'sim' });
      }
    }
    this.#limit(op, now, note);

    let replyLost = false;
    let lateFill = 0;
    let reject = false;
    let rateLimitAfter = -1;
    this.config.script!.forEach((s, i) => {
      if (this.#fired[i]) return;
      if (s.op !== '*' && s.op !== op) return;
      const count = s.op === '*' ? this.#totalCalls : call;
      const due = s.nth !== undefined ? count === s.nth : s.at === undefined || now >= s.at;
      if (!due) return;
      if (s.fault === 'late-fill' && op !== 'cancelOrder') return;
      this.#fired[i] = true;
      if (s.fault === 'reject') reject = true;
      else if (s.fault === 'rate-limit') rateLimitAfter = s.retryAfterMs ?? this.config.retryAfterMs ?? 1000;
      else if (s.fault === 'reply-lost') replyLost = true;
      else lateFill = s.fraction ?? 1;
    });

    const p = this.config.probability ?? {};
    if (!reject && p.reject && this.#rng.next() < p.reject) reject = true;
    if (rateLimitAfter < 0 && p.rateLimit && this.#rng.next() < p.rateLimit) rateLimitAfter = this.config.retryAfterMs ?? 1000;
    const mutating = op === 'createOrder' || op === 'cancelOrder';
    if (mutating && !replyLost && p.replyLost && this.#rng.next() < p.replyLost) replyLost = true;
    if (op === 'cancelOrder' && lateFill === 0 && p.lateFill && this.#rng.next() < p.lateFill) {
      lateFill = this.config.lateFillFraction ?? 1;
    }

    if (reject) {
      note('reject');
      throw new ExchangeNotAvailable(`sim: ${op}: 503 service unavailable (rejected before acceptance)`, { exchange: 'sim' });
    }
    if (rateLimitAfter >= 0) {
      note('rate-limit');
      this.#cooldownUntil = Math.max(this.#cooldownUntil, now + rateLimitAfter);
      throw new RateLimitExceeded(`sim: ${op}: 429 too many requests`, rateLimitAfter, { exchange: 'sim' });
    }
    if (replyLost) note('reply-lost');
    if (lateFill > 0) note('late-fill');
    return replyLost || lateFill > 0 ? { replyLost, lateFill } : NONE;
  }

  #limit(op: ExchangeOp, now: number, note: (f: FaultKind) => void): void {
    const rl = this.config.rateLimit;
    if (now < this.#cooldownUntil) {
      this.#violations++;
      if (rl?.banAfter !== undefined && this.#violations >= rl.banAfter) {
        const ban = { from: now, to: now + (rl.banMs ?? 60_000) };
        this.#triggeredBans.push(ban);
        this.#violations = 0;
        note('ban');
        throw new RateLimitExceeded(`sim: ${op}: banned until ${ban.to} (ignored retry-after)`, ban.to - now, { exchange: 'sim' });
      }
      note('rate-limit');
      throw new RateLimitExceeded(`sim: ${op}: 429 too many requests (retry-after pending)`, this.#cooldownUntil - now, {
        exchange: 'sim',
      });
    }
    if (!rl) return;
    const recent = this.#recent;
    while (recent.length > 0 && recent[0]! <= now - rl.windowMs) recent.shift();
    if (recent.length >= rl.maxCalls) {
      const retryAfter = recent[0]! + rl.windowMs - now;
      this.#cooldownUntil = now + retryAfter;
      note('rate-limit');
      throw new RateLimitExceeded(`sim: ${op}: 429 more than ${rl.maxCalls} calls per ${rl.windowMs} ms`, retryAfter, {
        exchange: 'sim',
      });
    }
    recent.push(now);
  }

  /**
   * fetchOrder by clientOrderId: true while the order should still look absent (first N lookups).
   * `key` identifies the order (its venue id).
   */
  hideOrder(key: string, now: number, op: ExchangeOp = 'fetchOrder'): boolean {
    const lag = this.config.notFoundLag ?? 0;
    if (!this.enabled || lag <= 0) return false;
    const n = (this.#lookups.get(key) ?? 0) + 1;
    this.#lookups.set(key, n);
    if (n > lag) return false;
    this.log.push({ time: now, op, call: this.calls(op), fault: 'not-found-lag' });
    return true;
  }

  toJSON(): FaultStateJSON {
    return {
      config: structuredClone(this.config),
      rng: this.#rng.state,
      enabled: this.enabled,
      calls: Object.fromEntries(this.#calls),
      totalCalls: this.#totalCalls,
      fired: [...this.#fired],
      triggeredBans: this.#triggeredBans.map((w) => ({ ...w })),
      cooldownUntil: Number.isFinite(this.#cooldownUntil) ? this.#cooldownUntil : -1e300,
      violations: this.#violations,
      recent: [...this.#recent],
      lookups: Object.fromEntries(this.#lookups),
      log: this.log.map((e) => ({ ...e })),
    };
  }

  static fromJSON(json: FaultStateJSON): FaultInjector {
    const f = new FaultInjector(json.config);
    f.#rng.state = json.rng >>> 0;
    f.enabled = json.enabled;
    f.#calls = new Map(Object.entries(json.calls));
    f.#totalCalls = json.totalCalls;
    f.#fired = [...json.fired];
    f.#triggeredBans = json.triggeredBans.map((w) => ({ ...w }));
    f.#cooldownUntil = json.cooldownUntil;
    f.#violations = json.violations;
    f.#recent = [...json.recent];
    f.#lookups = new Map(Object.entries(json.lookups));
    f.log.push(...json.log.map((e) => ({ ...e })));
    return f;
  }
}
