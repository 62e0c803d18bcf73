#!/usr/bin/env node
// The `ballast` binary. It runs the TypeScript CLI (src/apps/cli/main.ts) as JavaScript that esbuild
// bundled into node_modules/.cache/ballast/ (scripts/bundle-cli.js: rebuilt only after a file under src/
// changes). No build step, and no module loader hooks at run time: on Node 20, loader hooks (tsx's) make
// V8 check every typed-array access for a detached buffer, which slows the backtester by about a fifth.
// If the bundle cannot be built, the binary says why and exits 1: it never runs the sources another way.
// esbuild strips types without checking them; `npm run typecheck` (run by .ci/run) checks them.
import { pathToFileURL } from 'node:url';
import { cliBundle } from '../scripts/bundle-cli.js';

/** esbuild's errors (file:line:col: text), or the error's message. */
function describe(e) {
  const errors = e && typeof e === 'object' && Array.isArray(e.errors) ? e.errors : [];
  if (errors.length === 0) return e instanceof Error ? e.message : String(e);
  return errors
    .slice(0, 5)
    .map((x) => (x.location ? `${x.location.file}:${x.location.line}:${x.location.column + 1}: ${x.text}` : x.text))
    .join('\n  ');
}

let file;
try {
  file = await cliBundle();
} catch (e) {
  process.stderr.write(
    `ballast: cannot build the CLI from src/ (scripts/bundle-cli.js, esbuild):\n  ${describe(e)}\n` +
      'Fix the source (`npm run typecheck` checks it) or reinstall the dependencies (`npm ci`).\n',
  );
  process.exit(1);
}
// Stack traces of internal errors point into src/ (the bundle's source maps).
process.setSourceMapsEnabled(true);
await import(pathToFileURL(file).href);
