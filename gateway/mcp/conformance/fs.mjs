// node:fs with a globSync for Node 20 (it arrived in Node 22); the conformance CLI imports it for `tier-check`,
// which the server scenarios never run: calling it is an error, not a silent empty answer.
import fs from 'node:fs';
export * from 'node:fs';
export default fs;
export function globSync() {
  throw new Error('fs.globSync is not available on Node 20 (only the conformance tier-check uses it)');
}
