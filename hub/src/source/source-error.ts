/**
 * Why a repository could not be read:
 * - not-allowed: the URL is neither configured nor reached through a rewrite (nothing was fetched)
 * - unreachable: the server or path did not answer, or answered with a non-auth error
 * - auth: the server refused the credentials (or asked for some and none are configured)
 * - revision: the branch, tag or commit does not exist in the repository
 * - limit: a size or count limit was hit
 * - invalid: the request or the repository content is malformed or unsafe
 */
export type SourceErrorReason = "not-allowed" | "unreachable" | "auth" | "revision" | "limit" | "invalid";

/**
 * A repository could not be read. Callers turn it into a `source` problem for the app that
 * named the repository. The message starts with the repository URL (never with credentials).
 */
export class SourceError extends Error {
  readonly reason: SourceErrorReason;

  constructor(message: string, reason: SourceErrorReason, options?: ErrorOptions) {
    super(message, options);
    this.name = "SourceError";
    this.reason = reason;
  }
}
