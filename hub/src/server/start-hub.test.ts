import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { createFixtureRepo } from "../resolve/fixture-repo.js";
import { loadHubConfig } from "./hub-config.js";
import { type Hub, startHub } from "./start-hub.js";

const timeout = 240_000;

/** An embedded hub (PGlite, in-process bus) on a free port of 127.0.0.1, closed when the test ends. */
async function useHub(t: TestContext, env: Record<string, string> = {}, configFile?: string): Promise<Hub> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-start-hub-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = loadHubConfig(
    { dataDir: join(dir, "data"), listenHttp: "127.0.0.1:0", ...(configFile ? { config: configFile } : {}) },
    { HOME: dir, FLOTILLA_CACHE_DIR: join(dir, "cache"), FLOTILLA_REPLICA: "test-replica", ...env },
    dir,
  );
  const hub = await startHub(config, { log: () => {} });
  t.after(() => hub.close());
  return hub;
}

/** GET `path` on the hub over HTTPS, trusting its CA. */
function get(
  hub: Hub,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${hub.url}${path}`, { ca: hub.runtime.caCertPem, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("startHub: /metrics", () => {
  it("serves the hub's metrics on the main port without a token by default", { timeout }, async (t) => {
    const hub = await useHub(t);
    assert.equal((await get(hub, "/healthz")).status, 200);
    const metrics = await get(hub, "/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain/);
    assert.match(metrics.body, /^flotilla_hub_connected_agents 0$/m);
    // The embedded hub is its own resolver leader once started.
    assert.match(metrics.body, /^flotilla_hub_is_leader 1$/m);
    assert.match(metrics.body, /^flotilla_hub_http_requests_total\{route_group="other",code="200"\} [1-9]/m);
    assert.match(metrics.body, /^flotilla_hub_process_resident_memory_bytes \d+/m);
  });

  it("measures resolves, fetches and resolve problems of the leader", { timeout }, async (t) => {
    const repoDir = await mkdtemp(join(tmpdir(), "flotilla-start-hub-repo-"));
    t.after(() => rm(repoDir, { recursive: true, force: true }));
    await createFixtureRepo(repoDir, {
      files: {
        "root/guestbook.yaml": [
          "apiVersion: argoproj.io/v1alpha1",
          "kind: Application",
          "metadata: { name: guestbook, namespace: argocd }",
          "spec:",
          "  project: default",
          `  source: { repoURL: ${repoDir}, path: guestbook, targetRevision: HEAD }`,
          "  destination: { name: no-such-cluster, namespace: guestbook }",
        ].join("\n"),
        "guestbook/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: guestbook }\n",
      },
    });
    // Beside the committed files, not in a commit: the hub reads commits only.
    const configFile = join(repoDir, "hub.yaml");
    await writeFile(configFile, `sources:\n  - name: infra\n    repoURL: ${repoDir}\n    path: root\n`);
    const hub = await useHub(t, { FLOTILLA_ALLOW_LOCAL_REPOSITORIES: "true" }, configFile);
    await hub.runtime.refresh({ source: "infra" });

    const metrics = (await get(hub, "/metrics")).body;
    assert.match(metrics, /^flotilla_hub_resolve_duration_seconds_count\{result="ok"\} [1-9]/m);
    assert.match(metrics, /^flotilla_hub_source_fetch_duration_seconds_count [1-9]/m);
    assert.match(metrics, /^flotilla_hub_resolve_problems [1-9]/m);
  });

  it("asks for the configured metrics token", { timeout }, async (t) => {
    const hub = await useHub(t, { FLOTILLA_METRICS_TOKEN: "scrape-me" });
    const refused = await get(hub, "/metrics");
    assert.equal(refused.status, 401);
    assert.doesNotMatch(refused.body, /scrape-me/);
    const allowed = await get(hub, "/metrics", { authorization: "Bearer scrape-me" });
    assert.equal(allowed.status, 200);
    assert.match(allowed.body, /^flotilla_hub_connected_agents 0$/m);
  });
});

describe("startHub: /readyz", () => {
  it("answers 503 naming the store while the store does not answer", { timeout }, async (t) => {
    const hub = await useHub(t);
    const ready = await get(hub, "/readyz");
    assert.equal(ready.status, 200, ready.body);
    // The store going away under the hub, as a stopped database does.
    await hub.runtime.store.close();
    const deadline = Date.now() + 15_000;
    let answer = await get(hub, "/readyz");
    while (answer.status === 200) {
      assert.ok(Date.now() < deadline, "readyz still 200 15 s after the store went away");
      await new Promise((resolve) => setTimeout(resolve, 200));
      answer = await get(hub, "/readyz");
    }
    assert.equal(answer.status, 503);
    assert.deepEqual(JSON.parse(answer.body), { status: "store unavailable" });
  });
});
