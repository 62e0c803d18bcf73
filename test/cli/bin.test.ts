/**
 * bin/ballast.js never runs unchecked sources another way: when esbuild cannot bundle src/, it names the file
 * and line, says what to do, and exits 1 (no silent fallback to a TypeScript loader).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from './helpers.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'ballast-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bin/ballast.js', () => {
  it('a source esbuild cannot bundle: a located message and exit 1', async () => {
    // A copy of the binary and its bundler beside a CLI entry with a syntax error; node_modules is the repo's.
    cpSync(join(REPO, 'bin'), join(dir, 'bin'), { recursive: true });
    cpSync(join(REPO, 'scripts'), join(dir, 'scripts'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    mkdirSync(join(dir, 'src', 'apps', 'cli'), { recursive: true });
    writeFileSync(join(dir, 'src', 'apps', 'cli', 'main.ts'), 'const x: number = ;\n');
    mkdirSync(join(dir, 'node_modules', '.cache'), { recursive: true });
    for (const m of ['esbuild', '@esbuild']) symlinkSync(join(REPO, 'node_modules', m), join(dir, 'node_modules', m));
    const r = await run(process.execPath, [join(dir, 'bin', 'ballast.js'), '--help'], { cwd: dir }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ballast: cannot build the CLI from src/ (scripts/bundle-cli.js, esbuild):');
    expect(r.stderr).toMatch(/src\/apps\/cli\/main\.ts:1:19: Unexpected ";"/);
    expect(r.stderr).toContain('`npm run typecheck`');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
