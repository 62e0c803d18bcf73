/**
 * The dashboard's files, bundled with esbuild's API when the server starts and kept in memory: no build step
 * after `npm ci`, nothing written to disk, no CDN (uPlot and its stylesheet are bundled in).
 *
 *   /                 src/apps/web/index.html
 *   /assets/app.js    src/apps/web/main.ts and everything it imports (uPlot included), minified
 *   /assets/app.css   src/apps/web/style.css (which imports uPlot's stylesheet)
 *   /assets/portfolios.js   src/apps/web/portfolios.ts: `ballast serve`'s portfolio list (its page: `portfolios.html`,
 *                     served as `/` by serve; the single-portfolio page as `/p/NAME/`)
 *
 * These files hold no data: every number comes from /api/* with the bearer token.
 */
import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { projectRoot } from '../../adapters/files/root.js';

export interface DashboardAsset {
  type: string;
  body: Buffer;
}

export const WEB_DIR = join(projectRoot(import.meta.url), 'src', 'apps', 'web') + sep;

export async function bundleDashboard(webDir = WEB_DIR): Promise<Map<string, DashboardAsset>> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: { app: `${webDir}main.ts`, portfolios: `${webDir}portfolios.ts`, style: `${webDir}style.css` },
    bundle: true,
    write: false,
    outdir: '/assets',
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    absWorkingDir: webDir,
  });
  const assets = new Map<string, DashboardAsset>();
  for (const f of result.outputFiles) {
    const base = f.path.slice(f.path.lastIndexOf('/') + 1);
    if (base === 'app.js' || base === 'portfolios.js') assets.set(`/assets/${base}`, { type: 'text/javascript; charset=utf-8', body: Buffer.from(f.contents) });
    // esbuild names the stylesheet after its entry (style.css); a CSS import in app.js would give app.css.
    else if (base.endsWith('.css')) {
      const prev = assets.get('/assets/app.css');
      assets.set('/assets/app.css', { type: 'text/css; charset=utf-8', body: prev ? Buffer.concat([prev.body, Buffer.from(f.contents)]) : Buffer.from(f.contents) });
    }
  }
  if (!assets.has('/assets/app.js')) throw new Error('dashboard bundle: esbuild produced no app.js');
  assets.set('/', { type: 'text/html; charset=utf-8', body: readFileSync(`${webDir}index.html`) });
  assets.set('/portfolios.html', { type: 'text/html; charset=utf-8', body: readFileSync(`${webDir}portfolios.html`) });
  return assets;
}

/** A page saying why the dashboard is missing (the API itself keeps working). */
export function unavailablePage(reason: string): Map<string, DashboardAsset> {
  const esc = reason.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const html = `<!doctype html><meta charset="utf-8"><title>ballast</title><body style="font-family:system-ui;margin:2rem"><h1>ballast</h1><p>The dashboard could not be built: ${esc}</p><p>The HTTP API under <code>/api/</code> works; see docs/api.md.</p></body>`;
  return new Map([['/', { type: 'text/html; charset=utf-8', body: Buffer.from(html) }]]);
}
