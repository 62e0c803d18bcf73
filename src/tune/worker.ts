/**
 * Entry of a tuning worker thread: the history arrives once as views on the sweep's SharedArrayBuffer
 * (workerData), then batches of tasks arrive as messages and their results go back, batch by batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { unpackHistory, type PackedHistory } from './shared-history.js';
import { TaskRunner, type SweepContext, type Task, type TaskResult } from './task.js';

export interface WorkerInit extends SweepContext {
  history: PackedHistory;
}

export type WorkerReply = { results: TaskResult[] } | { error: string; task: number };

const init = workerData as WorkerInit;
const runner = new TaskRunner(unpackHistory(init.history), init);
parentPort!.on('message', (tasks: Task[]) => {
  const results: TaskResult[] = [];
  for (const t of tasks) {
    try {
      results.push(runner.run(t));
    } catch (e) {
      parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e), task: t.id } satisfies WorkerReply);
      return;
    }
  }
  parentPort!.postMessage({ results } satisfies WorkerReply);
});
