// A stateful GitHub REST API simulator on loopback for tests: real git object hashing, GitHub's
// auth (tokens, GitHub App JWT → installation tokens), rate-limit headers and injectable failures.
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, jwtVerify } from 'jose';
import { gitRoutes } from './git.ts';
import { SimError, SimRepository, type Actor, type AppState, type GitHubSimulator, type InstallationState, type Permissions, type RequestRecord, type Route, type SimResponse, type SimUser, type SimulatorContext, type SimulatorOptions, type Fault } from './model.ts';

export * from './model.ts';

// ---------------------------------------------------------------------------------------------
// The server

const DEFAULT_DOCS = 'https://docs.github.com/rest';
const SECONDARY_MESSAGE =
  'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID';

interface CompiledRoute {
  route: Route;
  regex: RegExp;
  names: string[];
}

// Trailing {ref} and {path} parameters carry slashes ("heads/feature/x", "dir/file.json").
function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const segments = route.path.split('/');
  const pattern = segments
    .map((seg, i) => {
      const m = /^\{(\w+)\}$/.exec(seg);
      if (!m) return seg.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      names.push(m[1]!);
      const greedy = i === segments.length - 1 && (m[1] === 'ref' || m[1] === 'path');
      return greedy ? '(.*)' : '([^/]+)';
    })
    .join('/');
  return { route, regex: new RegExp(`^${pattern}$`), names };
}

function md5(data: string | Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

function hasPermission(granted: Permissions | 'all', name: string, level: 'read' | 'write'): boolean {
  if (granted === 'all') return true;
  const have = granted[name];
  return have === 'write' || (have === 'read' && level === 'read');
}

/**
 * Starts the simulator on 127.0.0.1 with a random port.
 *
 * @example
 * await using sim = await startGitHubSimulator({ tokens: [{ token: 'ghp_test', login: 'octo' }] });
 * sim.createRepo('acme', 'evidence');
 * const octokit = new Octokit({ baseUrl: sim.baseUrl, auth: 'ghp_test' });
 */
export async function startGitHubSimulator(options: SimulatorOptions = {}): Promise<GitHubSimulator> {
  const now = options.now ?? Date.now;
  const prefix = (options.pathPrefix ?? '').replace(/\/$/, '');
  const rateLimit = { limit: options.rateLimit?.limit ?? 5000, windowMs: options.rateLimit?.windowMs ?? 3_600_000 };
  const tokenTtl = options.installationTokenTtlMs ?? 3_600_000;

  let nextId = 1000;
  const users = new Map<string, SimUser>();
  const repos = new Map<string, SimRepository>();
  const pats = new Map<string, { user: SimUser; permissions: Permissions | 'all' }>();
  const installationTokens = new Map<string, { installation: InstallationState; expiresAt: number; permissions: Permissions }>();
  const apps = new Map<string, AppState>();
  const usage = new Map<string, { windowStart: number; used: number }>();
  const writes = new Map<string, number[]>();
  const requests: RequestRecord[] = [];
  const faults = new Set<{ fault: Fault; remaining: number; until: number; hits: number }>();
  let origin = '';

  const user = (login: string, type: SimUser['type'] = 'User'): SimUser => {
    let u = users.get(login.toLowerCase());
    if (!u) {
      u = { login, id: nextId++, type };
      users.set(login.toLowerCase(), u);
    }
    return u;
  };

  const ctx: SimulatorContext = {
    get baseUrl() {
      return origin + prefix;
    },
    get htmlUrl() {
      return origin;
    },
    now,
    user,
    findRepo: (owner, name) => repos.get(`${owner}/${name}`.toLowerCase()),
  };

  const createRepo = (owner: string, name: string, o: { defaultBranch?: string; private?: boolean } = {}) => {
    const key = `${owner}/${name}`.toLowerCase();
    if (repos.has(key)) throw new Error(`repository ${owner}/${name} exists`);
    const r = new SimRepository(nextId++, user(owner), name, o.defaultBranch ?? 'main', o.private ?? true, now);
    repos.set(key, r);
    return r;
  };

  for (const t of options.tokens ?? []) pats.set(t.token, { user: user(t.login), permissions: t.permissions ?? 'all' });
  for (const a of options.apps ?? []) {
    const slug = a.slug ?? `app-${a.id}`;
    const app: AppState = {
      id: a.id,
      slug,
      publicKey: typeof a.publicKey === 'string' ? createPublicKey(a.publicKey) : a.publicKey,
      bot: user(`${slug}[bot]`, 'Bot'),
      installations: new Map(),
    };
    for (const i of a.installations) {
      app.installations.set(i.id, {
        id: i.id,
        app,
        account: i.account,
        permissions: i.permissions ?? { contents: 'write', metadata: 'read' },
        repositories: i.repositories ?? null,
      });
    }
    apps.set(String(a.id), app);
  }
  for (const r of options.repos ?? []) createRepo(r.owner, r.name, r);

  const routes = [appRoutes(), ...gitRoutes(ctx), ...(options.plugins ?? []).flatMap((p) => p(ctx))].map(compile);

  function appRoutes(): Route {
    return {
      method: 'POST',
      path: '/app/installations/{installation_id}/access_tokens',
      auth: 'app',
      docs: 'https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app',
      handle(req) {
        if (req.actor.kind !== 'app') throw new SimError(401, 'A JSON web token could not be decoded');
        const inst = req.actor.app.installations.get(Number(req.params.installation_id));
        if (!inst) throw new SimError(404, 'Not Found');
        const token = `ghs_${randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}`;
        const expiresAt = now() + tokenTtl;
        installationTokens.set(token, { installation: inst, expiresAt, permissions: inst.permissions });
        return {
          status: 201,
          body: {
            token,
            expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
            permissions: inst.permissions,
            repository_selection: inst.repositories ? 'selected' : 'all',
          },
        };
      },
    };
  }

  async function authenticate(header: string | undefined): Promise<Actor | SimError> {
    if (!header) return { kind: 'anonymous', key: 'anonymous' };
    const m = /^(token|bearer)\s+(\S+)$/i.exec(header.trim());
    if (!m) return new SimError(401, 'Bad credentials');
    const credential = m[2]!;
    const pat = pats.get(credential);
    if (pat) return { kind: 'user', key: `pat:${md5(credential)}`, user: pat.user, permissions: pat.permissions };
    const it = installationTokens.get(credential);
    if (it) {
      if (it.expiresAt <= now()) return new SimError(401, 'Bad credentials');
      const inst = it.installation;
      return { kind: 'installation', key: `installation:${inst.id}`, user: inst.app.bot, installation: inst, permissions: it.permissions };
    }
    if (credential.split('.').length === 3) return verifyAppJwt(credential);
    return new SimError(401, 'Bad credentials');
  }

  // GitHub's JWT rules: RS256 signed by the app's key, iss = app id, exp at most 10 minutes ahead.
  async function verifyAppJwt(jwt: string): Promise<Actor | SimError> {
    let iss: unknown;
    try {
      iss = decodeJwt(jwt).iss;
    } catch {
      return new SimError(401, 'A JSON web token could not be decoded');
    }
    const app = apps.get(String(iss));
    if (!app) return new SimError(401, 'A JSON web token could not be decoded');
    try {
      const { payload } = await jwtVerify(jwt, app.publicKey, { algorithms: ['RS256'], currentDate: new Date(now()) });
      const nowSec = Math.floor(now() / 1000);
      if (typeof payload.exp !== 'number' || payload.exp > nowSec + 600) {
        return new SimError(401, "'Expiration time' claim ('exp') is too far in the future");
      }
      if (typeof payload.iat !== 'number' || payload.iat > nowSec + 60) {
        return new SimError(401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued");
      }
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') {
        return new SimError(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires");
      }
      return new SimError(401, 'A JSON web token could not be decoded');
    }
    return { kind: 'app', key: `app:${app.id}`, app };
  }

  function canSee(actor: Actor, repo: SimRepository): boolean {
    switch (actor.kind) {
      case 'anonymous':
        return !repo.isPrivate;
      case 'user':
        return true;
      case 'installation': {
        const inst = actor.installation;
        if (inst.account.toLowerCase() !== repo.owner.login.toLowerCase()) return false;
        return inst.repositories === null || inst.repositories.some((r) => r.toLowerCase() === repo.name.toLowerCase());
      }
      case 'app':
        return false;
    }
  }

  function rateHeaders(actor: Actor, counts: boolean): Record<string, string> {
    const t = now();
    let u = usage.get(actor.key);
    if (!u || t - u.windowStart >= rateLimit.windowMs) {
      u = { windowStart: t, used: 0 };
      usage.set(actor.key, u);
    }
    if (counts) u.used++;
    const limit = actor.kind === 'anonymous' ? Math.min(60, rateLimit.limit) : rateLimit.limit;
    return {
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': String(Math.max(0, limit - u.used)),
      'x-ratelimit-reset': String(Math.ceil((u.windowStart + rateLimit.windowMs) / 1000)),
      'x-ratelimit-used': String(u.used),
      'x-ratelimit-resource': 'core',
    };
  }

  function overPrimary(actor: Actor): boolean {
    const u = usage.get(actor.key);
    const limit = actor.kind === 'anonymous' ? Math.min(60, rateLimit.limit) : rateLimit.limit;
    return !!u && now() - u.windowStart < rateLimit.windowMs && u.used >= limit;
  }

  function overSecondary(actor: Actor): boolean {
    const s = options.secondaryRateLimit;
    if (!s) return false;
    const t = now();
    const list = (writes.get(actor.key) ?? []).filter((w) => t - w < s.windowMs);
    writes.set(actor.key, list);
    if (list.length >= s.maxWrites) return true;
    list.push(t);
    return false;
  }

  function activeFault(method: string, path: string) {
    const t = now();
    for (const f of faults) {
      if (f.remaining <= 0 || t >= f.until) {
        faults.delete(f);
        continue;
      }
      if (f.fault.match && !f.fault.match({ method, path })) continue;
      f.remaining--;
      f.hits++;
      return f.fault;
    }
    return null;
  }

  function faultResponse(fault: Fault, actor: Actor): SimResponse {
    const kind = fault.kind ?? 'error';
    if (kind === 'secondary-rate-limit') {
      return {
        status: fault.status ?? 403,
        body: { message: SECONDARY_MESSAGE, documentation_url: 'https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits' },
        headers: { 'retry-after': String(fault.retryAfter ?? 60) },
      };
    }
    if (kind === 'primary-rate-limit') {
      const h = rateHeaders(actor, false);
      return {
        status: fault.status ?? 403,
        body: { message: `API rate limit exceeded for ${actor.kind === 'installation' ? `installation ID ${actor.installation.id}` : 'user'}.`, documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' },
        headers: { ...h, 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(now() / 1000) + (fault.retryAfter ?? 60)) },
      };
    }
    const status = fault.status ?? 502;
    return { status, body: { message: status === 502 ? 'Server Error' : status === 503 ? 'Service Unavailable' : 'Internal Server Error' } };
  }

  function send(res: ServerResponse, out: SimResponse, method: string, reqHeaders: IncomingMessage['headers'], actor: Actor): SimResponse {
    const headers: Record<string, string> = {
      'x-github-request-id': `${randomBytes(2).toString('hex').toUpperCase()}:${randomBytes(3).toString('hex').toUpperCase()}:${randomBytes(4).toString('hex').toUpperCase()}:${randomBytes(4).toString('hex').toUpperCase()}:${Math.floor(now() / 1000).toString(16).toUpperCase()}`,
      'x-github-api-version-selected': '2022-11-28',
      'x-github-media-type': 'github.v3; format=json',
      ...out.headers,
    };
    let payload: Buffer | null = null;
    if (Buffer.isBuffer(out.body)) {
      payload = out.body;
      headers['content-type'] ??= 'application/octet-stream';
    } else if (out.body !== undefined) {
      payload = Buffer.from(JSON.stringify(out.body));
      headers['content-type'] = 'application/json; charset=utf-8';
    }
    let status = out.status;
    // Conditional requests: GitHub sends ETags on GETs and a 304 for a matching If-None-Match.
    if (method === 'GET' && status === 200 && payload) {
      const etag = `W/"${md5(payload)}"`;
      headers.etag = etag;
      headers['cache-control'] = 'private, max-age=60, s-maxage=60';
      headers.vary = 'Accept, Authorization, Cookie, X-GitHub-OTP';
      if (reqHeaders['if-none-match'] === etag) {
        status = 304;
        payload = null;
        delete headers['content-type'];
      }
    }
    // A 304 does not count against the primary rate limit (GitHub's rule that makes ETag polling cheap).
    const rate = rateHeaders(actor, status !== 304);
    for (const [k, v] of Object.entries(rate)) headers[k] ??= v;
    res.writeHead(status, headers);
    res.end(payload ?? undefined);
    return { status, body: payload && !Buffer.isBuffer(out.body) ? out.body : undefined, headers };
  }

  function errorBody(err: SimError, docs: string): SimResponse {
    return {
      status: err.status,
      body: { message: err.message, ...err.extra, documentation_url: docs, status: String(err.status) },
      headers: err.headers,
    };
  }

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = now();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const raw = await readBody(req);
    let path = url.pathname;
    let actor: Actor = { kind: 'anonymous', key: 'anonymous' };
    let matched: CompiledRoute | undefined;
    let params: Record<string, string> = {};
    let requestBody: unknown;
    let out: SimResponse;
    let isFault = false;
    try {
      if (prefix && !path.startsWith(`${prefix}/`)) throw new SimError(404, 'Not Found');
      path = path.slice(prefix.length);
      const auth = await authenticate(req.headers.authorization);
      if (auth instanceof SimError) throw auth;
      actor = auth;
      const fault = activeFault(method, path);
      if (fault) {
        isFault = true;
        out = faultResponse(fault, actor);
      } else {
        out = await dispatch();
      }
    } catch (err) {
      out = errorBody(err instanceof SimError ? err : new SimError(500, 'Server Error'), matched?.route.docs ?? DEFAULT_DOCS);
      if (!(err instanceof SimError)) process.stderr.write(`github simulator: ${(err as Error).stack}\n`);
    }
    const sent = send(res, out, method, req.headers, actor);
    requests.push({
      seq: requests.length + 1,
      at,
      method,
      path,
      route: matched?.route.path ?? null,
      status: sent.status,
      requestBody,
      responseBody: sent.body,
      responseHeaders: sent.headers ?? {},
      fault: isFault,
      actor: actor.kind === 'app' ? `app:${actor.app.id}` : actor.kind === 'anonymous' ? 'anonymous' : actor.user.login,
    });

    async function dispatch(): Promise<SimResponse> {
      for (const c of routes) {
        if (c.route.method !== method) continue;
        const m = c.regex.exec(path);
        if (!m) continue;
        matched = c;
        params = Object.fromEntries(c.names.map((n, i) => [n, decodeURIComponent(m[i + 1] ?? '')]));
        break;
      }
      if (!matched) throw new SimError(404, 'Not Found');
      const route = matched.route;
      if (route.auth === 'app') {
        if (actor.kind !== 'app') {
          throw new SimError(401, 'A JSON web token could not be decoded');
        }
      } else if (actor.kind === 'app') {
        throw new SimError(403, 'Resource not accessible by integration');
      }
      if (overPrimary(actor)) {
        const h = rateHeaders(actor, false);
        throw new SimError(403, `API rate limit exceeded for ${actor.kind === 'installation' ? `installation ID ${actor.installation.id}` : 'user'}.`, {}, h);
      }
      if (method !== 'GET' && overSecondary(actor)) {
        throw new SimError(403, SECONDARY_MESSAGE, {}, { 'retry-after': String(options.secondaryRateLimit?.retryAfter ?? 60) });
      }
      if (raw.length > 0) {
        try {
          requestBody = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new SimError(400, 'Problems parsing JSON');
        }
      }
      let repo: SimRepository | null = null;
      if (route.path.startsWith('/repos/{owner}/{repo}')) {
        const found = ctx.findRepo(params.owner ?? '', params.repo ?? '');
        if (!found || !canSee(actor, found)) {
          if (actor.kind === 'anonymous' && method !== 'GET') throw new SimError(401, 'Requires authentication');
          throw new SimError(404, 'Not Found');
        }
        repo = found;
        const [perm, level] = route.permission ?? ['metadata', 'read'];
        const granted = actor.kind === 'user' || actor.kind === 'installation' ? actor.permissions : {};
        const publicRead = !found.isPrivate && level === 'read';
        if (!publicRead && !hasPermission(granted, perm, level) && !(perm === 'metadata' && actor.kind !== 'anonymous')) {
          const who = actor.kind === 'installation' ? 'integration' : 'personal access token';
          throw new SimError(403, `Resource not accessible by ${who}`, {}, { 'x-accepted-github-permissions': `${perm}=${level}` });
        }
      }
      return route.handle({ method, route: route.path, params, query: url.searchParams, headers: req.headers, body: requestBody, actor, repo }, ctx);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      process.stderr.write(`github simulator: ${(err as Error).stack}\n`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });

  return {
    get baseUrl() {
      return ctx.baseUrl;
    },
    requests,
    createRepo,
    repo(owner, name) {
      const r = ctx.findRepo(owner, name);
      if (!r) throw new Error(`no repository ${owner}/${name}`);
      return r;
    },
    addToken(token, login, permissions) {
      pats.set(token, { user: user(login), permissions: permissions ?? 'all' });
    },
    inject(fault) {
      const entry = {
        fault,
        remaining: fault.times ?? Number.POSITIVE_INFINITY,
        until: fault.durationMs === undefined ? Number.POSITIVE_INFINITY : now() + fault.durationMs,
        hits: 0,
      };
      faults.add(entry);
      return {
        clear: () => void faults.delete(entry),
        get hits() {
          return entry.hits;
        },
      };
    },
    clearFaults: () => faults.clear(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
