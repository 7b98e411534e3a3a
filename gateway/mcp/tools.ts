// The MCP tools Verdict serves (MCP "tools" capability, https://modelcontextprotocol.io/specification —
// server/tools): query, list_tables, describe_table, explain, approval_status. Each is under policy: its SQL
// goes through the pipeline like any statement, and its result carries the same masked values twice
// (structuredContent, and the text rendering of it in content). Refusals are tool errors (isError: true)
// whose text names the rule, the decision id and, for approvals, the request id and link.
import { McpServer, type CallToolResult } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { ApprovalProvider } from '../approvals/provider.ts';
import { ToolRefusal, toolError } from './errors.ts';
import type { Caller, McpRunner, QueryOut, StatementOut } from './runner.ts';

const params = z
  .array(z.string().nullable())
  .max(65535)
  .optional()
  .describe('values for $1, $2, … as text (PostgreSQL casts them to the parameter types); null is SQL NULL. Only with a single statement.');

const purpose = z
  .string()
  .max(64)
  .optional()
  .describe('your purpose of use (treatment, payment, operations, …): the policy shows PHI unmasked only for a declared purpose it accepts');

/**
 * `schema`, its JSON Schema computed once for the process. The SDK serves every request with a fresh server
 * (one factory per request) and memoises JSON Schema per server only, so each tool call converted the called
 * tool's input and output schemas again (about 0.35 ms of CPU per call, bench:mcp). Validation is untouched
 * (zod's own `validate`); the JSON Schema is the one zod gives, frozen because every request shares it.
 *
 * @example
 * const queryIn = jsonSchemaOnce(z.object({ sql: z.string() }));
 */
function jsonSchemaOnce<T extends z.ZodType>(schema: T): T {
  const std = schema['~standard'];
  const memo = (io: 'input' | 'output') => {
    const convert = std.jsonSchema[io];
    const byTarget = new Map<string, Record<string, unknown>>();
    return (options: Parameters<typeof convert>[0]): Record<string, unknown> => {
      // Only the plain form (a target, no library options) is shared; anything else is converted as asked.
      if (!options || Object.keys(options).some((k) => k !== 'target')) return convert(options);
      let json = byTarget.get(options.target);
      if (!json) byTarget.set(options.target, (json = deepFreeze(convert(options))));
      return json;
    };
  };
  (schema as { '~standard': typeof std })['~standard'] = { ...std, jsonSchema: { input: memo('input'), output: memo('output') } };
  return schema;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const queryIn = jsonSchemaOnce(z.object({ sql: z.string().min(1).describe('PostgreSQL SQL'), params, purpose }));
const listTablesIn = jsonSchemaOnce(z.object({ schema: z.string().min(1).optional().describe('only this schema') }));
const describeIn = jsonSchemaOnce(z.object({ table: z.string().min(1), schema: z.string().min(1).default('public') }));
const explainIn = jsonSchemaOnce(z.object({ sql: z.string().min(1), params }));
const approvalIn = jsonSchemaOnce(z.object({ request_id: z.string().regex(/^req-[0-9a-z]{12}$/, 'a request id such as req-0123456789ab') }));

const statementOut = z.object({
  statement: z.string(),
  command: z.string(),
  columns: z.array(z.object({ name: z.string(), type: z.string(), masked: z.boolean() })),
  rows: z.array(z.array(z.string().nullable())),
  row_count: z.number().int(),
  truncated: z.boolean(),
});
const queryOut = jsonSchemaOnce(z.object({ results: z.array(statementOut), notes: z.array(z.string()) }));

const tableOut = jsonSchemaOnce(
  z.object({
    tables: z.array(z.object({ schema: z.string(), table: z.string(), type: z.string() })),
  }),
);

const describeOut = jsonSchemaOnce(
  z.object({
    schema: z.string(),
    table: z.string(),
    /** What the policy does with SELECT * of the table for this caller. */
    access: z.enum(['allow', 'mask', 'approve', 'deny']),
    columns: z.array(
      z.object({
        name: z.string(),
        type: z.string(),
        nullable: z.boolean(),
        phi_type: z.string().nullable(),
        masked_as: z.string().nullable(),
      }),
    ),
  }),
);

const explainOut = jsonSchemaOnce(z.object({ plan: z.array(z.string()) }));

const approvalOut = jsonSchemaOnce(
  z.object({
    request_id: z.string(),
    status: z.enum(['pending', 'approved', 'rejected', 'expired', 'withdrawn', 'consumed']),
    link: z.string(),
    statement: z.string(),
    expires_at: z.string(),
    approved_by: z.array(z.string()),
    next: z.string(),
  }),
);

/** Where the tools get the caller of each request (the verified token, the declared client). */
export type CallerOf = (extra: { http?: { authInfo?: { extra?: Record<string, unknown> } } }) => Caller;

/**
 * A fresh MCP server with Verdict's tools (one per request or per 2025-era session, as the SDK serves them).
 *
 * @example
 * const server = buildMcpServer(runner, approvals, callerOf, '0.1.0');
 */
export function buildMcpServer(runner: McpRunner, approvals: ApprovalProvider, callerOf: CallerOf, version: string): McpServer {
  const server = new McpServer(
    { name: 'verdict', version },
    {
      capabilities: { tools: {} },
      instructions:
        'Verdict is a policy gateway in front of a PostgreSQL database. Every statement is decided by policy: ' +
        'allowed, allowed with columns masked, refused, or held for a human approval. Masked values are not the real ones. ' +
        'When a statement needs approval, you get a request id and link; once a person approves it, call query again with the identical statement.',
    },
  );

  server.registerTool(
    'query',
    {
      title: 'Run SQL',
      description:
        'Runs SQL on the database under Verdict policy and returns the rows (masked where policy says). Several statements separated by ";" are each decided and run in order, as one transaction unless they control transactions themselves. A statement that needs approval returns an approval request instead; after approval, call again with the identical statement to run it once.',
      inputSchema: queryIn,
      outputSchema: queryOut,
      annotations: { destructiveHint: true, openWorldHint: false },
    },
    async ({ sql, params: values, purpose: declared }, extra) =>
      answer(() => runner.query({ ...callerOf(extra), ...(declared !== undefined ? { purpose: declared } : {}) }, 'query', sql, values ?? [], extra.mcpReq.signal), renderQuery),
  );

  server.registerTool(
    'list_tables',
    {
      title: 'List tables',
      description: 'Lists the tables and views your database role can see (information_schema.tables), optionally of one schema.',
      inputSchema: listTablesIn,
      outputSchema: tableOut,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ schema }, extra) =>
      answer(async () => {
        const sql =
          "SELECT table_schema AS schema, table_name AS table, table_type AS type FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')" +
          (schema ? ' AND table_schema = $1' : '') +
          ' ORDER BY 1, 2';
        const out = await runner.query(callerOf(extra), 'list_tables', sql, schema ? [schema] : []);
        const rows = out.results[0]?.rows ?? [];
        return { tables: rows.map(([s, t, ty]) => ({ schema: s ?? '', table: t ?? '', type: ty ?? '' })) };
      }, (o) => (o.tables.length ? o.tables.map((t) => `${t.schema}.${t.table} (${t.type.toLowerCase()})`).join('\n') : 'no tables visible to you')),
  );

  server.registerTool(
    'describe_table',
    {
      title: 'Describe a table',
      description: "A table's columns with their types, their PHI classification, and whether Verdict masks them for you (and how).",
      inputSchema: describeIn,
      outputSchema: describeOut,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ table, schema }, extra) =>
      answer(async () => {
        const caller = callerOf(extra);
        const out = await runner.query(
          caller,
          'describe_table',
          "SELECT column_name AS column, data_type AS type, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
          [schema, table],
        );
        const rows = out.results[0]?.rows ?? [];
        if (rows.length === 0) throw toolError.invalid(`no table ${schema}.${table} is visible to you`, 'list_tables shows the tables you can see');
        // What the policy would do with every column of it, for this caller (decided, not run).
        const preview = runner.preview(caller, `SELECT * FROM ${quoteIdent(schema)}.${quoteIdent(table)}`);
        const d = preview.decisions[0]!;
        const masks = new Map(d.masks.filter((m) => m.column.schema === schema && m.column.table === table).map((m) => [m.column.column, m.method]));
        const phi = runner.phiTypes(schema, table);
        return {
          schema,
          table,
          access: d.action,
          columns: rows.map(([name, type, nullable]) => ({
            name: name ?? '',
            type: type ?? '',
            nullable: nullable === 'YES',
            phi_type: Object.hasOwn(phi, name ?? '') ? phi[name!]! : null,
            masked_as: masks.get(name ?? '') ?? null,
          })),
        };
      }, (o) =>
        [`${o.schema}.${o.table} — for you: ${o.access}`, ...o.columns.map((c) => `  ${c.name} ${c.type}${c.nullable ? '' : ' not null'}${c.phi_type ? ` · PHI ${c.phi_type}` : ''}${c.masked_as ? ` · masked (${c.masked_as})` : ''}`)].join('\n'),
      ),
  );

  server.registerTool(
    'explain',
    {
      title: 'Explain a query',
      description: "PostgreSQL's plan for one statement (EXPLAIN, never ANALYZE: nothing runs), under the same policy as the statement.",
      inputSchema: explainIn,
      outputSchema: explainOut,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ sql, params: values }, extra) =>
      answer(async () => {
        const caller = callerOf(extra);
        const alone = runner.preview(caller, sql);
        const a = alone.statements[0];
        if (alone.statements.length !== 1 || !a || !['select', 'insert', 'update', 'delete', 'merge'].includes(a.kind)) {
          throw toolError.invalid('explain takes one SELECT, INSERT, UPDATE, DELETE or MERGE statement');
        }
        const out = await runner.query(caller, 'explain', `EXPLAIN ${a.text}`, values ?? []);
        return { plan: (out.results[0]?.rows ?? []).map((r) => r[0] ?? '') };
      }, (o) => o.plan.join('\n')),
  );

  server.registerTool(
    'approval_status',
    {
      title: 'Approval status',
      description: 'Where an approval request you filed stands (pending, approved, rejected, expired, …) and what to do next. Approvals are given by people, never through this server.',
      inputSchema: approvalIn,
      outputSchema: approvalOut,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ request_id }, extra) =>
      answer(async () => {
        const caller = callerOf(extra);
        let filed;
        try {
          filed = await approvals.request(request_id);
        } catch {
          filed = null;
        }
        // Someone else's request is as good as none: its statement is theirs.
        if (!filed || filed.request.requester.sub !== caller.identity.sub) {
          throw toolError.invalid(`no approval request ${request_id} of yours`);
        }
        const state = await approvals.state(request_id);
        const next =
          state.status === 'approved'
            ? 'call query again with the identical statement (and parameters) to run it once'
            : state.status === 'pending'
              ? `wait for an approver: ${filed.link}`
              : state.status === 'consumed'
                ? 'it ran already; an approval runs its statement once'
                : 'run the statement again to file a new request';
        return {
          request_id,
          status: state.status,
          link: filed.link,
          statement: filed.request.statement,
          expires_at: filed.request.expires_at,
          approved_by: state.status === 'approved' ? state.approved_by : [],
          next,
        };
      }, (o) => `${o.request_id}: ${o.status}${o.approved_by.length ? ` (by ${o.approved_by.join(', ')})` : ''} — ${o.next}\n${o.link}`),
  );

  return server;
}

/** A tool's answer: the result as structuredContent and rendered text, or a tool error for a refusal. */
async function answer<T extends object>(run: () => Promise<T>, render: (out: T) => string): Promise<CallToolResult> {
  try {
    const out = await run();
    return { content: [{ type: 'text', text: render(out) }], structuredContent: out as Record<string, unknown> };
  } catch (err) {
    if (!(err instanceof ToolRefusal)) throw err;
    const d = err.details;
    const facts = [
      d.rule && `rule: ${d.rule}`,
      d.decision_id && `decision: ${d.decision_id}`,
      d.request_id && `approval request: ${d.request_id}`,
      d.link && `link: ${d.link}`,
      d.sqlstate && `SQLSTATE: ${d.sqlstate}`,
      d.next && `next: ${d.next}`,
    ].filter(Boolean);
    return {
      isError: true,
      content: [{ type: 'text', text: `${d.status === 'approval_required' ? 'Approval required' : d.status === 'denied' ? 'Denied' : d.status === 'invalid' ? 'Invalid request' : 'Error'}: ${err.message}${facts.length ? `\n${facts.join('\n')}` : ''}` }],
      _meta: { 'dev.verdict/refusal': { ...d } },
    };
  }
}

function renderQuery(out: QueryOut): string {
  return [...out.results.map(renderStatement), ...out.notes.map((n) => `note: ${n}`)].join('\n\n');
}

function renderStatement(r: StatementOut): string {
  if (r.columns.length === 0) return r.command;
  const header = r.columns.map((c) => (c.masked ? `${c.name} (masked)` : c.name)).join('\t');
  const rows = r.rows.map((row) => row.map((v) => (v === null ? 'NULL' : v.replace(/[\t\n\r]/g, ' '))).join('\t'));
  return [`${r.command}${r.truncated ? ' (truncated)' : ''}`, header, ...rows].join('\n');
}

/** A PostgreSQL quoted identifier. */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
