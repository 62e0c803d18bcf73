/**
 * `ballast worker --db postgres://… --redis redis://… [--concurrency N]`: consumes the cycle queue. Each job
 * is one portfolio cycle (./cycle.ts) under the exchange accounts' Redis locks and fencing tokens. A worker
 * holds one Postgres connection (statements are synchronous, so jobs that overlap on venue I/O never
 * interleave inside a transaction) and one Redis connection for locks and rate limits; BullMQ has its own.
 *
 * A worker that dies mid-cycle: its BullMQ job lock expires and the job is retried by another worker (stalled
 * job); its account locks expire after `lockTtlMs`; the next holder's token is higher, so an order the dead
 * worker had saved but not sent can never be sent by it, and the new holder's start-up reconciliation
 * settles whatever it had sent.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { SyncPg } from '../../adapters/journal/pg-sync.js';
import { AccountLocks } from '../../adapters/scale/account-lock.js';
import { PortfolioStore } from '../../adapters/scale/portfolios.js';
import type { ServiceLog } from '../../service/service.js';
import type { CrashHook } from '../../execution/crash.js';
import { AccountBusy, runPortfolioCycle, type CycleResult } from './cycle.js';
import { QUEUE, redisConnection, type CycleJob } from './queue.js';

export interface WorkerOptions {
  db: string;
  redis: string;
  concurrency?: number;
  /** Account lock lifetime; renewed while a cycle runs. Default 30 s. */
  lockTtlMs?: number;
  /** Each exchange key's budget, shared by every worker. Default 20 requests, 10 per second. */
  rate?: { capacity: number; refillPerSecond: number };
  log?: ServiceLog;
  /** Crash-test hook (BALLAST_CRASH_AT, as `ballast run`). */
  crash?: CrashHook;
  /** Called after every finished job (tests, metrics). */
  onResult?: (r: CycleResult) => void;
}

export interface WorkerHandle {
  id: string;
  worker: Worker<CycleJob, CycleResult>;
  close(): Promise<void>;
}

export async function startWorker(o: WorkerOptions): Promise<WorkerHandle> {
  const id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const connection = new SyncPg(o.db);
  const store = new PortfolioStore(o.db, connection);
  const redis = new Redis({ ...(redisConnection(o.redis) as object), maxRetriesPerRequest: null });
  const locks = new AccountLocks(redis, { owner: id, ttlMs: o.lockTtlMs ?? 30_000 });
  const rate = o.rate ?? { capacity: 20, refillPerSecond: 10 };
  const worker = new Worker<CycleJob, CycleResult>(
    QUEUE,
    async (job: Job<CycleJob>) => {
      const r = await runPortfolioCycle(job.data.portfolio, job.data.trigger, { url: o.db, connection, store, redis, locks, rate, ...(o.log ? { log: o.log } : {}), ...(o.crash ? { crash: o.crash } : {}) });
      o.onResult?.(r);
      return r;
    },
    { connection: redisConnection(o.redis), concurrency: o.concurrency ?? 1, lockDuration: 15_000, stalledInterval: 5_000, maxStalledCount: 10 },
  );
  worker.on('failed', (job, err) => {
    if (!(err instanceof AccountBusy)) o.log?.warn({ job: job?.id, err: err.message }, 'cycle failed');
  });
  await worker.waitUntilReady();
  return {
    id,
    worker,
    async close() {
      await worker.close();
      redis.disconnect();
      store.close();
      connection.close();
    },
  };
}
