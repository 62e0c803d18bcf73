// The CLI as JavaScript: src/apps/cli/main.ts bundled by esbuild into node_modules/.cache/ballast/<key>/,
// where <key> hashes the path, size and modification time of every file under src/ (and of this file,
// which holds the build settings). The first call after a change bundles (a fraction of a second); later
// calls find the bundle. `bin/ballast.js` runs it, and the tests that start the real binary run it too.
// Files are .mjs: node then knows them for ES modules without looking for a package.json per file.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
export const CLI_ENTRY = join(SRC, 'apps', 'cli', 'main.ts');

/** Hash of every source file's path, size and modification time, and of this file's. */
function sourceKey() {
  const h = createHash('sha256');
  const self = statSync(fileURLToPath(import.meta.url));
  h.update(`bundler:${self.size}:${self.mtimeMs}\n`);
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const s = statSync(p);
        h.update(`${relative(SRC, p)}:${s.size}:${s.mtimeMs}\n`);
      }
    }
  };
  walk(SRC);
  return h.digest('hex').slice(0, 16);
}

/** The bundled CLI's entry file (bundling first if the sources changed since the last bundle). */
export async function cliBundle() {
  const cache = join(ROOT, 'node_modules', '.cache', 'ballast');
  const dir = join(cache, sourceKey());
  const main = join(dir, 'main.mjs');
  if (existsSync(main)) return main;
  const { buildSync } = await import('esbuild');
  const tmp = `${dir}.${process.pid}.tmp`;
  const r = buildSync({
    entryPoints: { main: CLI_ENTRY },
    absWorkingDir: ROOT,
    bundle: true,
    // Code splitting keeps lazily imported modules (the ccxt adapter: seconds to load) out of the entry chunk.
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Packages are bundled too (resolving hundreds of ESM files is most of node's start-up), except the
    // native better-sqlite3, esbuild (the dashboard's bundler) and ccxt; CommonJS packages inside an ESM
    // bundle need a `require`.
    external: ['better-sqlite3', 'ccxt', 'pino-pretty', 'esbuild'],
    banner: { js: "import { createRequire as __ballastRequire } from 'node:module'; const require = __ballastRequire(import.meta.url);" },
    sourcemap: 'linked',
    outdir: tmp,
    outExtension: { '.js': '.mjs' },
    write: false,
    logLevel: 'silent',
  });
  mkdirSync(tmp, { recursive: true });
  for (const f of r.outputFiles) writeFileSync(f.path, f.contents);
  try {
    renameSync(tmp, dir);
  } catch (e) {
    // Another process finished the same bundle first: use its copy.
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
