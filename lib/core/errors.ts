// Expected failures are values with a message a user can act on: the CLI prints
// the message as one line (no stack trace unless --verbose) and exits non-zero.

export class UserError extends Error {
  override name = "UserError";
}

/** A usage error (unknown flag, missing or malformed value): exit 2, with a pointer to --help. */
export class UsageError extends UserError {
  override name = "UsageError";
}

/** Bad configuration: names the variable. A malformed value is a usage error (exit 2). */
export class ConfigError extends UsageError {
  override name = "ConfigError";
}

/** A new table that does not match the previous `-latest`: nothing is written. */
export class ValidationError extends UserError {
  override name = "ValidationError";
}

/** An artifact that cannot be decoded, or a key that is not allowed. */
export class ArtifactError extends UserError {
  override name = "ArtifactError";
}

/** A source (HTTP API, subgraph, RPC) failed. Transient failures are retried. */
export class SourceError extends UserError {
  override name = "SourceError";
  constructor(
    message: string,
    readonly transient: boolean,
    /** How long the source asked us to wait (HTTP 429 Retry-After), in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
