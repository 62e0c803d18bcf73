#!/usr/bin/env node
// The `ballast` binary. It runs the TypeScript CLI (src/apps/cli/main.ts) as JavaScript that esbuild
// bundled into node_modules/.cache/ballast/<key>/, where <key> hashes the path, size and modification time
// of every file under src/: the first start after a change bundles (a fraction of a second), later starts
// reuse it (as test/cli/helpers.ts bundles it for the tests). No build step, and no module loader hooks at run time: on Node 20, loader hooks (tsx's) make
// V8 check every typed-array access for a detached buffer, which slows the backtester by about a fifth.
// If esbuild cannot bundle, the CLI runs through tsx's loader instead (BALLAST_DEBUG=1 says why).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const entry = join(src, 'apps', 'cli', 'main.ts');

/** Hash of every source file's path, size and modification time (and of this file's). */
function sourceKey() {
  const h = createHash('sha256');
  const self = statSync(fileURLToPath(import.meta.url));
  h.update(`bin:${self.size}:${self.mtimeMs}\n`);
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const s = statSync(p);
        h.update(`${relative(src, p)}:${s.size}:${s.mtimeMs}\n`);
      }
    }
  };
  walk(src);
  return h.digest('hex').slice(0, 16);
}

async function bundled() {
  const cache = join(root, 'node_modules', '.cache', 'ballast');
  const dir = join(cache, sourceKey());
  const main = join(dir, 'main.js');
  if (existsSync(main)) return main;
  const { buildSync } = await import('esbuild');
  const tmp = `${dir}.${process.pid}.tmp`;
  const r = buildSync({
    entryPoints: { main: entry },
    absWorkingDir: root,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Packages are bundled too (resolving hundreds of ESM files is most of node's start-up), except the
    // native better-sqlite3, esbuild (the dashboard's bundler) and ccxt (lazily imported: seconds to load);
    // CommonJS packages inside an ESM bundle need a `require`.
    external: ['better-sqlite3', 'ccxt', 'pino-pretty', 'esbuild'],
    banner: { js: "import { createRequire as __ballastRequire } from 'node:module'; const require = __ballastRequire(import.meta.url);" },
    sourcemap: 'linked',
    outdir: tmp,
    write: false,
    logLevel: 'silent',
  });
  mkdirSync(tmp, { recursive: true });
  for (const f of r.outputFiles) writeFileSync(f.path, f.contents);
  try {
    renameSync(tmp, dir);
  } catch (e) {
    // Another start finished the same bundle first: use its copy.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(main)) throw e;
  }
  // Older bundles are left for a concurrent process that may still load from them; prune all but a few.
  const old = readdirSync(cache)
    .filter((d) => d !== relative(cache, dir) && !d.endsWith('.tmp'))
    .map((d) => ({ d, t: statSync(join(cache, d)).mtimeMs }))
    .sort((a, b) => b.t - a.t)
    .slice(4);
  for (const { d } of old) rmSync(join(cache, d), { recursive: true, force: true });
  return main;
}

let file = null;
try {
  file = await bundled();
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
  await import(pathToFileURL(entry).href);
}
