/**
 * Progress bar for long CLI runs (backtests). Draws with cli-progress on stderr when stderr is a
 * TTY and progress is enabled; otherwise (piped output, CI, `--json`) it is a silent no-op, so
 * stdout stays machine-readable either way.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Advance by n steps (default 1). */
  tick(n?: number): void;
  /** Finish and release the terminal line. Idempotent. */
  stop(): void;
  /** True when a bar is actually drawn. */
  readonly active: boolean;
}

export interface ProgressOptions {
  total: number;
  label: string;
  /** False disables drawing (e.g. --json, --quiet). */
  enabled: boolean;
  /** Stream to draw on; default process.stderr. Drawing needs `isTTY`. */
  stream?: NodeJS.WriteStream;
}

const NOOP: Progress = { tick() {}, stop() {}, active: false };

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  if (!opts.enabled || !stream.isTTY || !(opts.total > 0)) return NOOP;
  const label = opts.label.replace(/[{}]/g, '');
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}`,
      stream,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(opts.total, 0);
  let value = 0;
  let stopped = false;
  return {
    active: true,
    tick(n = 1) {
      if (stopped) return;
      value = Math.min(opts.total, value + n);
      bar.update(value);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
