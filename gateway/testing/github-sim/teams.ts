// Simulator plugin for organization team membership and users (GET /users/{username}, GET /user), with
// helpers to add, invite (pending) and remove team members.
import { isoSeconds, simpleUserJson } from './json.ts';
import { SimError, type Route, type SimUser, type SimulatorContext, type SimulatorPlugin } from './model.ts';

export interface TeamsSimulator {
  readonly plugin: SimulatorPlugin;
  /** Adds `login` to org/team; `pending` is an invitation not yet accepted (GitHub: state "pending"). */
  addMember(org: string, team: string, login: string, options?: { state?: 'active' | 'pending'; role?: 'member' | 'maintainer' }): void;
  removeMember(org: string, team: string, login: string): void;
  /** Creates a user of a given type up front (e.g. a Bot reviewer), as GitHub accounts exist before they act. */
  user(login: string, type?: SimUser['type']): SimUser;
}

const DOCS = {
  membership: 'https://docs.github.com/rest/teams/members#get-team-membership-for-a-user',
  user: 'https://docs.github.com/rest/users/users#get-a-user',
  me: 'https://docs.github.com/rest/users/users#get-the-authenticated-user',
};

/**
 * Teams and users as a simulator plugin.
 *
 * @example
 * const teams = simulatorTeams();
 * await using sim = await startGitHubSimulator({ plugins: [teams.plugin] });
 * teams.addMember('acme', 'dba', 'carol');
 */
export function simulatorTeams(): TeamsSimulator {
  let ctxRef: SimulatorContext | undefined;
  // "org/team" (lower case) → login (lower case) → membership
  const teams = new Map<string, Map<string, { state: 'active' | 'pending'; role: 'member' | 'maintainer' }>>();
  const key = (org: string, team: string) => `${org}/${team}`.toLowerCase();
  const ctx = () => {
    if (!ctxRef) throw new Error('simulatorTeams: register the plugin with startGitHubSimulator first');
    return ctxRef;
  };

  const userJson = (u: SimUser) => ({
    ...simpleUserJson(ctx(), u),
    name: null,
    company: null,
    blog: '',
    location: null,
    email: null,
    hireable: null,
    bio: null,
    twitter_username: null,
    public_repos: 0,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: isoSeconds(0),
    updated_at: isoSeconds(0),
  });

  const routes = (c: SimulatorContext): Route[] => {
    ctxRef = c;
    return [
      {
        method: 'GET',
        path: '/orgs/{org}/teams/{team_slug}/memberships/{username}',
        docs: DOCS.membership,
        handle(req) {
          // Org routes sit outside the simulator's repository permission check: an App needs members: read.
          if (req.actor.kind === 'anonymous') throw new SimError(401, 'Requires authentication');
          if (req.actor.kind === 'installation') {
            const inst = req.actor.installation;
            const level = req.actor.permissions.members;
            if (inst.account.toLowerCase() !== (req.params.org ?? '').toLowerCase()) throw new SimError(404, 'Not Found');
            if (level !== 'read' && level !== 'write') {
              throw new SimError(403, 'Resource not accessible by integration', {}, { 'x-accepted-github-permissions': 'members=read' });
            }
          }
          const team = teams.get(key(req.params.org ?? '', req.params.team_slug ?? ''));
          const m = team?.get((req.params.username ?? '').toLowerCase());
          if (!m) throw new SimError(404, 'Not Found');
          const url = `${c.baseUrl}/orgs/${req.params.org}/teams/${req.params.team_slug}/memberships/${req.params.username}`;
          return { status: 200, body: { url, role: m.role, state: m.state } };
        },
      },
      {
        method: 'GET',
        path: '/users/{username}',
        docs: DOCS.user,
        handle(req) {
          const login = req.params.username ?? '';
          // Every login exists in the simulator (as a User unless created otherwise first).
          const u = c.user(login);
          return { status: 200, body: userJson(u) };
        },
      },
      {
        method: 'GET',
        path: '/user',
        docs: DOCS.me,
        handle(req) {
          if (req.actor.kind === 'anonymous') throw new SimError(401, 'Requires authentication');
          if (req.actor.kind !== 'user') throw new SimError(403, 'Resource not accessible by integration');
          return {
            status: 200,
            body: {
              ...userJson(req.actor.user),
              user_view_type: 'private',
              private_gists: 0,
              total_private_repos: 0,
              owned_private_repos: 0,
              disk_usage: 0,
              collaborators: 0,
              two_factor_authentication: true,
            },
          };
        },
      },
    ];
  };

  return {
    plugin: routes,
    addMember(org, team, login, o = {}) {
      ctx().user(login);
      let t = teams.get(key(org, team));
      if (!t) teams.set(key(org, team), (t = new Map()));
      t.set(login.toLowerCase(), { state: o.state ?? 'active', role: o.role ?? 'member' });
    },
    removeMember(org, team, login) {
      teams.get(key(org, team))?.delete(login.toLowerCase());
    },
    user: (login, type) => ctx().user(login, type),
  };
}
