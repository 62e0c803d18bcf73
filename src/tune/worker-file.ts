/**
 * The tuning worker as one JavaScript file. A worker thread runs plain JavaScript (no TypeScript loader
 * hooks, which on Node 20 slow typed-array code by about a fifth), so src/tune/worker.ts is bundled by
 * esbuild into node_modules/.cache/ballast/tune-worker/<key>.mjs, where <key> hashes the path, size and
 * modification time of every file under src/ — the CLI bundle's rule: rebuilt only after a change.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { projectRoot } from '../adapters/files/root.js';

function sourceKey(src: string): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
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

/** Path of the bundled worker (bundling it first when the sources changed). */
export async function tuneWorkerFile(): Promise<string> {
  const root = projectRoot(import.meta.url);
  const src = join(root, 'src');
  const entry = join(src, 'tune', 'worker.ts');
  if (!existsSync(entry)) throw new Error(`the tuning worker's source ${entry} is missing: run ballast from its repository (or use --workers 0)`);
  const dir = join(root, 'node_modules', '.cache', 'ballast', 'tune-worker');
  const file = join(dir, `${sourceKey(src)}.mjs`);
  if (existsSync(file)) return file;
  const { buildSync } = await import('esbuild');
  const r = buildSync({
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['better-sqlite3', 'ccxt', 'pino-pretty', 'esbuild'],
    banner: { js: "import { createRequire as __ballastRequire } from 'node:module'; const require = __ballastRequire(import.meta.url);" },
    write: false,
    logLevel: 'silent',
  });
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, r.outputFiles[0]!.contents);
  renameSync(tmp, file);
  // Keep the newest few bundles (a concurrent sweep may still be starting from an older one).
  const old = readdirSync(dir)
    .filter((f) => f.endsWith('.mjs') && join(dir, f) !== file)
    .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t)
    .slice(3);
  for (const { f } of old) rmSync(join(dir, f), { force: true });
  return file;
}
