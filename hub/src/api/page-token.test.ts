import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GrpcError } from "@flotilla/proto/grpc";
import { createPageToken, pageSizeOf, readPageToken } from "./page-token.js";

function invalid(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof GrpcError);
    assert.equal(error.code, "INVALID_ARGUMENT");
    assert.match(error.details, pattern);
    return true;
  };
}

describe("page tokens", () => {
  it("resume at the position they were made for", () => {
    const token = createPageToken("ListApps", { prefix: "a" }, { n: "app-7" });

    assert.deepEqual(readPageToken("ListApps", { prefix: "a" }, token), { n: "app-7" });
    assert.equal(readPageToken("ListApps", { prefix: "a" }, ""), undefined);
  });

  it("are refused with other filters or by another method", () => {
    const token = createPageToken("ListApps", { prefix: "a" }, { n: "app-7" });

    assert.throws(
      () => readPageToken("ListApps", { prefix: "b" }, token),
      invalid(/issued for other filters/),
    );
    assert.throws(() => readPageToken("ListClusters", { prefix: "a" }, token), invalid(/ListClusters/));
    assert.throws(() => readPageToken("ListApps", { prefix: "a" }, "not a token!"), invalid(/not a token/));
  });

  it("size pages at 100 by default and at most 1,000", () => {
    assert.deepEqual([pageSizeOf(0), pageSizeOf(7), pageSizeOf(5_000)], [100, 7, 1_000]);
  });
});
