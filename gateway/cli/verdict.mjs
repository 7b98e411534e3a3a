#!/usr/bin/env node
// The `verdict` executable (package.json bin): runs the TypeScript CLI through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
