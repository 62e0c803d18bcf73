/**
 * The BullMQ queue of portfolio cycles, shared by `ballast serve` (producer) and `ballast worker` (consumer).
 *
 * One job id per portfolio and cycle: `<portfolio>.<trigger>.<slot>`, where the slot is the trigger's time
 * slot (start-up: the serve instance's start; calendar: the check period; monitor: the feed tick; manual: the
 * request time). BullMQ refuses a second job with an id it still holds, so the same cycle is never queued or
 * run twice at once, however many schedulers or ticks ask for it. Job ids never contain ':' (BullMQ rule).
 */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';

export const QUEUE = 'ballast-cycles';

export type Trigger = 'start' | 'calendar' | 'monitor' | 'manual';

export interface CycleJob {
  portfolio: string;
  trigger: Trigger;
  /** When the trigger fired (epoch ms). */
  at: number;
}

export function cycleJobId(portfolio: string, trigger: Trigger, slot: number): string {
  return `${portfolio}.${trigger}.${slot}`;
}

export const JOB_OPTIONS: JobsOptions = {
  // Retried when the account is held by another worker, or a worker died mid-cycle (stalled job).
  attempts: 240,
  backoff: { type: 'fixed', delay: 1_000 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 24 * 3600 },
};

/** Redis connection options from a redis:// URL (BullMQ needs maxRetriesPerRequest: null on workers). */
export function redisConnection(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--redis ${url}: not a redis://host:port URL`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`--redis ${url}: not a redis://host:port URL`);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

export class CycleQueue {
  readonly queue: Queue<CycleJob>;

  constructor(redisUrl: string) {
    this.queue = new Queue<CycleJob>(QUEUE, { connection: redisConnection(redisUrl) });
  }

  /** Queue one cycle; a no-op when a job with the same id is still held. Returns the job id. */
  async enqueue(portfolio: string, trigger: Trigger, slot: number, at: number): Promise<string> {
    const jobId = cycleJobId(portfolio, trigger, slot);
    await this.queue.add('cycle', { portfolio, trigger, at }, { ...JOB_OPTIONS, jobId });
    return jobId;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
