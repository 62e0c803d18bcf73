/**
 * Test fixture: the simulated venue in a process of its own (what `ballast sim-venue` runs), so a test
 * can kill it with SIGKILL. Usage: node --import tsx test/venue/venue-process.ts STATE_FILE
 * Prints `listening <port>` once it serves.
 */
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import { VenueServer } from '../../src/adapters/venue/server.js';
import { CONTRACT_CONFIG, T0 } from './helpers.js';

const stateFile = process.argv[2];
if (!stateFile) throw new Error('usage: venue-process.ts STATE_FILE');
const server = new VenueServer({ stateFile, config: CONTRACT_CONFIG, makeFeed: () => new ArrayFeed(), startTime: T0 });
const port = await server.start(0);
process.stdout.write(`listening ${port}\n`);
