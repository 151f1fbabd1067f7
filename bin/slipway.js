#!/usr/bin/env node
// The slipway executable: registers the TypeScript loader, then runs src/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
