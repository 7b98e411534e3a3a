// Test helper: checks the simulator's answers against GitHub's official OpenAPI description
// (@octokit/openapi api.github.com.json), so the simulator cannot drift from the real REST API.
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import type { RequestRecord } from './simulator.ts';

const require = createRequire(import.meta.url);

interface Operation {
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses: Record<string, unknown>;
}
interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; responses: Record<string, unknown> };
}

export interface OpenApiChecker {
  /** Problems with one exchange (empty when it matches the description). */
  check(record: RequestRecord): string[];
  /** Throws one error listing every problem across `records`; returns how many exchanges were checked. */
  assertAll(records: readonly RequestRecord[]): number;
}

let cached: OpenApiChecker | undefined;

// Component $refs are rewritten to point into one shared document so ajv resolves them once.
function rebase(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', '"$ref":"gh#/'));
}

/**
 * Loads the description once per process (13 MB, ~0.5 s) and compiles validators per operation lazily.
 *
 * @example
 * const checker = openApiChecker();
 * afterEach(() => checker.assertAll(sim.requests));
 */
export function openApiChecker(): OpenApiChecker {
  if (cached) return cached;
  const spec = require('@octokit/openapi/generated/api.github.com.json') as Spec;
  // strict: false because the description carries OpenAPI-only keywords (example, x-github, discriminator);
  // ajv understands OpenAPI's `nullable` natively.
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  // ajv-formats is CommonJS whose default export TypeScript's NodeNext typing does not see as callable.
  const addFormats = require('ajv-formats') as (a: Ajv) => void;
  addFormats(ajv);
  ajv.addSchema({ $id: 'gh', components: spec.components }, undefined, false, false);
  const validators = new Map<string, ValidateFunction>();

  const validator = (key: string, schema: unknown): ValidateFunction => {
    let v = validators.get(key);
    if (!v) {
      v = ajv.compile(rebase(schema) as object);
      validators.set(key, v);
    }
    return v;
  };

  const resolveResponse = (r: unknown): { content?: Record<string, { schema?: unknown }> } => {
    const ref = (r as { $ref?: string }).$ref;
    if (ref) return spec.components.responses[ref.replace('#/components/responses/', '')] as never;
    return r as never;
  };

  const basicError = { $ref: '#/components/schemas/basic-error' };

  const format = (v: ValidateFunction) =>
    (v.errors ?? [])
      .slice(0, 5)
      .map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`)
      .join('; ');

  const checker: OpenApiChecker = {
    check(r) {
      const problems: string[] = [];
      const where = `#${r.seq} ${r.method} ${r.path} → ${r.status}`;
      const h = r.responseHeaders;
      if (!h['x-github-request-id']) problems.push(`${where}: no x-github-request-id header`);
      if (!h['x-ratelimit-limit'] || !h['x-ratelimit-remaining'] || !h['x-ratelimit-reset']) problems.push(`${where}: no x-ratelimit-* headers`);
      if (r.method === 'GET' && r.status === 200 && !h.etag) problems.push(`${where}: GET without etag`);

      const op = r.route ? spec.paths[r.route]?.[r.method.toLowerCase()] : undefined;
      if (r.route && !op) {
        problems.push(`${where}: ${r.method} ${r.route} is not an operation in the OpenAPI description`);
        return problems;
      }
      if (r.status === 204 || r.status === 304) {
        if (r.responseBody !== undefined) problems.push(`${where}: ${r.status} with a body`);
        return problems;
      }
      if (r.responseBody === undefined) return problems; // raw media type (application/vnd.github.raw)

      const documented = op?.responses[String(r.status)];
      let schema: unknown;
      let key: string;
      if (documented) {
        schema = resolveResponse(documented).content?.['application/json']?.schema;
        key = `${r.route} ${r.method} ${r.status}`;
      } else if (r.status >= 400) {
        // GitHub sends undocumented errors (401 Bad credentials, 409 empty repository, 502…) as basic-error.
        schema = basicError;
        key = 'basic-error';
      } else {
        problems.push(`${where}: status ${r.status} is not documented for ${r.method} ${r.route ?? r.path}`);
        return problems;
      }
      if (schema) {
        const v = validator(key, schema);
        if (!v(r.responseBody)) problems.push(`${where}: response does not match ${key}: ${format(v)}`);
      }

      const requestSchema = op?.requestBody?.content?.['application/json']?.schema;
      if (requestSchema && r.status < 300 && r.requestBody !== undefined) {
        const v = validator(`${r.route} ${r.method} request`, requestSchema);
        if (!v(r.requestBody)) problems.push(`${where}: request body does not match the description: ${format(v)}`);
      }
      return problems;
    },
    assertAll(records) {
      const problems = records.flatMap((r) => checker.check(r));
      if (problems.length > 0) throw new Error(`OpenAPI mismatches:\n${problems.join('\n')}`);
      return records.length;
    },
  };
  cached = checker;
  return checker;
}
