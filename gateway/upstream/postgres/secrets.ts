// Where the gateway's upstream passwords come from: an environment variable or a file (a mounted
// Kubernetes/Docker secret), or an inline value for tests and local development only.
import { readFileSync } from 'node:fs';
import { UpstreamError } from './errors.ts';

/** A reference to a secret; the config file holds the reference, never (outside dev) the secret. */
export type SecretRef = { env: string } | { file: string } | { value: string };

/**
 * Reads a secret. A file's trailing newline(s) are dropped, because `echo pw > file` and most secret
 * mounts end with one and PostgreSQL would see it as part of the password. Errors name the variable or
 * file, never the value.
 *
 * @example
 * const password = resolveSecret({ env: 'VERDICT_PG_PASSWORD' });
 * const fromMount = resolveSecret({ file: '/run/secrets/pg-password' });
 */
export function resolveSecret(ref: SecretRef): string {
  if ('value' in ref && typeof ref.value === 'string') return ref.value;
  if ('env' in ref && typeof ref.env === 'string') {
    const v = process.env[ref.env];
    if (v === undefined || v === '') {
      throw new UpstreamError('SECRET_MISSING', `environment variable ${ref.env} is ${v === undefined ? 'not set' : 'empty'}`);
    }
    return v;
  }
  if ('file' in ref && typeof ref.file === 'string') {
    let text: string;
    try {
      text = readFileSync(ref.file, 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new UpstreamError('SECRET_MISSING', `cannot read secret file ${ref.file} (${why})`, { cause: err });
    }
    const v = text.replace(/(\r?\n)+$/, '');
    if (v === '') throw new UpstreamError('SECRET_MISSING', `secret file ${ref.file} is empty`);
    return v;
  }
  throw new UpstreamError('SECRET_MISSING', 'a secret reference needs exactly one of env, file or value');
}
