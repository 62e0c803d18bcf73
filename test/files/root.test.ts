/** The project root is found from a module's location, whether it runs from src/ or from the CLI's bundle cache. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/adapters/files/root.js';

const REPO = resolve(import.meta.dirname, '..', '..');

describe('projectRoot', () => {
  it('from a source module and from a bundle under node_modules/.cache/ballast/: the package folder', () => {
    expect(projectRoot(pathToFileURL(join(REPO, 'src', 'apps', 'cli', 'main.ts')).href)).toBe(REPO);
    expect(projectRoot(pathToFileURL(join(REPO, 'node_modules', '.cache', 'ballast', '0123456789abcdef', 'main.js')).href)).toBe(REPO);
    expect(existsSync(join(REPO, 'data'))).toBe(true);
  });

  it('outside any ballast package (a bundle copied to a temp folder): the working folder', () => {
    expect(projectRoot(pathToFileURL('/nonexistent-ballast-test/x/main.mjs').href)).toBe(process.cwd());
  });
});
