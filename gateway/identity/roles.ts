// Which upstream role a session runs as: the first of the identity's groups that identity.role_by_group maps,
// so the database's own privileges narrow too. The role is a startup parameter of the upstream session.

/**
 * The upstream role for `groups`, or null for the gateway's own login role.
 *
 * @example
 * roleFor({ contractors: 'contractor_ro' }, ['contractors']) // 'contractor_ro'
 */
export function roleFor(map: Readonly<Record<string, string>>, groups: readonly string[]): string | null {
  for (const g of groups) if (Object.hasOwn(map, g)) return map[g]!;
  return null;
}
