#!/usr/bin/env node
// The `ballast` binary. It runs the TypeScript CLI (src/apps/cli/main.ts) as JavaScript that esbuild
// bundled into node_modules/.cache/ballast/ (scripts/bundle-cli.js: rebuilt only after a file under src/
// changes). No build step, and no module loader hooks at run time: on Node 20, loader hooks (tsx's) make
// V8 check every typed-array access for a detached buffer, which slows the backtester by about a fifth.
// If esbuild cannot bundle, the CLI runs through tsx's loader instead (BALLAST_DEBUG=1 says why).
import { pathToFileURL } from 'node:url';
import { CLI_ENTRY, cliBundle } from '../scripts/bundle-cli.js';

let file = null;
try {
  file = await cliBundle();
} catch (e) {
  if (process.env.BALLAST_DEBUG) process.stderr.write(`ballast: bundling failed, running through tsx: ${e instanceof Error ? e.message : String(e)}\n`);
}
if (file !== null) {
  // Stack traces of internal errors point into src/ (the bundle's source maps).
  process.setSourceMapsEnabled(true);
  await import(pathToFileURL(file).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(CLI_ENTRY).href);
}
