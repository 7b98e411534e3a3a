// The GitHub area's one error module: what went wrong in the product's own GitHub code (not octokit's errors,
// which callers classify by HTTP status).

/** GitHub built another tree than the one planned from the bytes sent (commitFiles' expectTree). */
export class TreeMismatch extends Error {
  override name = 'TreeMismatch';
  constructor(
    readonly built: string,
    readonly expected: string,
  ) {
    super(`GitHub built tree ${built} where ${expected} was expected`);
  }
}
