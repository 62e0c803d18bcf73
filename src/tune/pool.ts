/**
 * Runs the tasks of a sweep: on N worker threads (node:worker_threads) sharing the history through one
 * SharedArrayBuffer, or in the calling thread (`workers: 0`). Tasks go out in small batches, one batch
 * in flight per worker, so a fast cell (~1 ms) does not pay a message round trip of its own. Results are
 * reported as they arrive (in no fixed order); the caller orders them by task id.
 *
 * Stopping (`signal`): no new batch is sent; the batches in flight finish and are reported, then `run`
 * resolves. Their results are kept, so a resumed sweep starts after them.
 */
import { Worker } from 'node:worker_threads';
import type { MarketHistory } from '../model/history.js';
import { unpackHistory, type PackedHistory } from './shared-history.js';
import { TaskRunner, type SweepContext, type Task, type TaskResult } from './task.js';
import { tuneWorkerFile } from './worker-file.js';
import type { WorkerInit, WorkerReply } from './worker.js';

export interface Runner {
  readonly workers: number;
  run(tasks: Task[], onResult: (r: TaskResult) => void, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** Batch size: about eight batches per worker, at most 32 tasks each. */
function batchSize(tasks: number, workers: number): number {
  return Math.max(1, Math.min(32, Math.ceil(tasks / (Math.max(1, workers) * 8))));
}

export function inProcessRunner(history: MarketHistory | PackedHistory, ctx: SweepContext): Runner {
  const h = 'buffer' in history ? unpackHistory(history) : history;
  const runner = new TaskRunner(h, ctx);
  return {
    workers: 0,
    async run(tasks, onResult, signal) {
      for (let i = 0; i < tasks.length; i++) {
        if (signal?.aborted) return;
        onResult(runner.run(tasks[i]!));
        // Let timers and signals through now and then (a progress bar, Ctrl-C).
        if (i % 16 === 15) await new Promise((r) => setImmediate(r));
      }
    },
    async close() {},
  };
}

export async function workerRunner(history: PackedHistory, ctx: SweepContext, n: number): Promise<Runner> {
  const file = await tuneWorkerFile();
  const init: WorkerInit = { ...ctx, history };
  const workers = Array.from({ length: n }, () => new Worker(file, { workerData: init }));
  let closed = false;
  return {
    workers: n,
    run(tasks, onResult, signal) {
      return new Promise<void>((resolve, reject) => {
        const size = batchSize(tasks.length, n);
        let next = 0;
        let inFlight = 0;
        let failed: Error | null = null;
        const listeners: (() => void)[] = [];
        const finish = (err?: Error) => {
          for (const off of listeners) off();
          if (err) reject(err);
          else resolve();
        };
        const send = (w: Worker): boolean => {
          if (failed || signal?.aborted || next >= tasks.length) return false;
          const batch = tasks.slice(next, next + size);
          next += batch.length;
          inFlight++;
          w.postMessage(batch);
          return true;
        };
        for (const w of workers) {
          const onMessage = (m: WorkerReply) => {
            inFlight--;
            if ('error' in m) {
              const t = tasks.find((x) => x.id === m.task);
              failed ??= new Error(`tune task ${m.task} failed${t ? ` (cell ${JSON.stringify(t.cell)})` : ''}: ${m.error}`);
            } else {
              for (const r of m.results) onResult(r);
            }
            if (!send(w) && inFlight === 0) finish(failed ?? undefined);
          };
          const onError = (e: Error) => {
            failed = e;
            finish(e);
          };
          w.on('message', onMessage);
          w.on('error', onError);
          listeners.push(() => {
            w.off('message', onMessage);
            w.off('error', onError);
          });
        }
        for (const w of workers) send(w);
        if (inFlight === 0) finish();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
