// What `docker build -f deploy/docker/Dockerfile .` would see, without Docker: the Dockerfile's instructions and
// which repository paths its .dockerignore sends to the build. Used by the image's tests.
import { cpSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

export interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions in order (continuations joined, comments dropped), each with its stage index. */
export function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    pending += (pending ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) continue;
    const m = /^(\w+)\s+(.*)$/.exec(pending);
    pending = '';
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: m[2]!, stage });
  }
  return out;
}

/** .dockerignore patterns in order; a path is sent when the last pattern matching it is a `!` one. */
export function sentToBuild(path: string): boolean {
  const lines = readFileSync(join(here, 'Dockerfile.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  let sent = true;
  for (const l of lines) {
    const negate = l.startsWith('!');
    const pattern = (negate ? l.slice(1) : l).replace(/\/$/, '');
    const segments = pattern.split('/');
    const body = segments
      .map((seg, k) => (seg === '**' ? '(?:.*/)?' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + (k < segments.length - 1 ? '/' : '')))
      .join('');
    // A pattern that matches a folder matches everything under it.
    const re = new RegExp(`^${body}(?:/.*)?$`);
    if (re.test(path)) sent = negate;
  }
  return sent;
}

/**
 * Lays out the image's /app under `dest`: what the final stage COPYs from the build context, filtered by the
 * .dockerignore (node_modules, from the dependency stage, is left to the caller).
 */
export function copyImageFiles(dest: string): string[] {
  const final = instructions(readFileSync(join(here, 'Dockerfile'), 'utf8'));
  const last = Math.max(...final.map((i) => i.stage));
  const sources = final
    .filter((i) => i.stage === last && i.op === 'COPY' && !i.args.startsWith('--from'))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  for (const s of sources) {
    cpSync(join(root, s), join(dest, s), { recursive: true, filter: (from) => sentToBuild(relative(root, from) || s) });
  }
  return sources;
}
