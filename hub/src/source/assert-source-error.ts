import assert from "node:assert/strict";
import { SourceError } from "./source-error.js";

/** For `assert.rejects`: the error is a SourceError with this reason (and message pattern). Test-only. */
export function isSourceError(reason: SourceError["reason"], pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof SourceError, `expected a SourceError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}
