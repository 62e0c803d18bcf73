/**
 * The project's root folder (where its package.json is), found from a module's own location: the same
 * answer whether the module runs from `src/` (tests, tsx) or from the CLI bundle under
 * `node_modules/.cache/ballast/` (how `bin/ballast.js` runs it). Outside any ballast package (a bundle
 * copied elsewhere), the working folder.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function projectRoot(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'ballast') return dir;
      } catch {
        // not ours: keep looking
      }
    }
    const up = dirname(dir);
    // A copy of the code outside the project (a test's bundle in a temp folder): the working folder.
    if (up === dir) return process.cwd();
    dir = up;
  }
}
