import assert from "node:assert/strict";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { backoffMs, type PostOptions, postWebhook } from "./post-webhook.js";

/** A local HTTP server answering each request with `answer`; returns its URL and the hit count. */
async function useServer(t: TestContext, answer: (res: ServerResponse, index: number) => void) {
  let hits = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => answer(res, hits++));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/secret-path`, hits: () => hits };
}

function options(fields: Partial<PostOptions> = {}): PostOptions {
  return {
    fetch,
    userAgent: "flotilla-hub/test",
    timeoutMs: 5_000,
    maxAttempts: 3,
    signal: new AbortController().signal,
    retryDelayMs: () => 5,
    ...fields,
  };
}

describe("postWebhook", () => {
  it("backs off 1 s, 2 s, 4 s ... up to 60 s", () => {
    assert.deepEqual([1, 2, 3, 6, 7, 12].map(backoffMs), [1_000, 2_000, 4_000, 32_000, 60_000, 60_000]);
  });

  it("does not follow a redirect and fails at once", async (t) => {
    const server = await useServer(t, (res) => res.writeHead(302, { location: "http://127.0.0.1:1/" }).end());
    const outcome = await postWebhook({ url: server.url, headers: {}, body: "{}" }, options());
    assert.deepEqual(outcome, { delivered: false, attempts: 1, status: 302, reason: "HTTP 302" });
  });

  it("retries a 429, waiting at least its Retry-After", async (t) => {
    const server = await useServer(t, (res, index) =>
      index === 0 ? res.writeHead(429, { "retry-after": "1" }).end() : res.writeHead(204).end(),
    );
    const started = Date.now();
    const outcome = await postWebhook({ url: server.url, headers: {}, body: "{}" }, options());
    assert.deepEqual(outcome, { delivered: true, attempts: 2, status: 204, reason: "HTTP 204" });
    assert.ok(Date.now() - started >= 900, "waited for Retry-After");
  });

  it("retries a timeout and reports it without the URL", async (t) => {
    const server = await useServer(t, () => {}); // never answers
    const outcome = await postWebhook(
      { url: server.url, headers: {}, body: "{}" },
      options({ timeoutMs: 200, maxAttempts: 2 }),
    );
    assert.deepEqual(outcome, { delivered: false, attempts: 2, status: 0, reason: "timed out after 200 ms" });
    assert.equal(server.hits(), 2);
  });

  it("names a refused connection by its code only", async () => {
    const outcome = await postWebhook(
      { url: "http://127.0.0.1:9/secret-path", headers: {}, body: "{}" },
      options({ maxAttempts: 1 }),
    );
    assert.equal(outcome.delivered, false);
    assert.match(outcome.reason, /^network error( [A-Z_]+)?$/);
    assert.doesNotMatch(outcome.reason, /secret-path/);
  });

  it("stops waiting between attempts when aborted, rejecting", async (t) => {
    const server = await useServer(t, (res) => res.writeHead(500).end());
    const abort = new AbortController();
    const posted = postWebhook(
      { url: server.url, headers: {}, body: "{}" },
      options({ signal: abort.signal, retryDelayMs: () => 60_000 }),
    );
    setImmediate(() => abort.abort(new Error("stopping")));
    await assert.rejects(posted);
  });
});
