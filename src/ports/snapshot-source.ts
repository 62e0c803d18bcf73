import type { Snapshot } from '../core/types.js';

/**
 * Where the service gets what it knows: the latest balances, positions, prices, marks, funding rates and
 * market rules of every configured account, as one core `Snapshot`. Every input carries its own time in
 * `snapshot.timestamps` (key: asset, perp symbol, `balances:<account>`, `positions:<account>`,
 * `funding:<symbol>`), so the planner's staleness rule can stop trading on old data.
 * Implementations: REST polling over Exchange ports, WebSocket with REST fallback, replayed history.
 * Venue failures surface as the typed errors of ports/errors.ts.
 */
export interface SnapshotSource {
  take(): Promise<Snapshot>;
  close(): Promise<void>;
}
