// The Authorization header for a URL: `Bearer $MCP_CONFORMANCE_BEARER` for the origin MCP_CONFORMANCE_AUTH_ORIGIN, else none.
export function authorization(url) {
  const token = process.env.MCP_CONFORMANCE_BEARER;
  const origin = process.env.MCP_CONFORMANCE_AUTH_ORIGIN;
  if (!token || !origin) return undefined;
  try {
    return new URL(String(url)).origin === new URL(origin).origin ? `Bearer ${token}` : undefined;
  } catch {
    return undefined;
  }
}
