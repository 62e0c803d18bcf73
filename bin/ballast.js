#!/usr/bin/env node
// The `ballast` binary: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../src/apps/cli/main.ts');
