import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { createFakePlatform } from "../cli/fake-platform.js";
import type { DesiredApp } from "../desired/desired-app.js";
import { createFileStateStore } from "../desired/state-store.js";
import { assessResourceHealth } from "../health/assess-health.js";
import { createAgentMetrics } from "./agent-metrics.js";
import { createSelfSignedCert } from "./create-self-signed-cert.js";
import { type Readiness, type StatusServer, serveStatus, splitListen } from "./serve-status.js";

type Answer = { status: number; type: string; body: string };

/** GET over HTTPS trusting only `caPem`. */
function get(url: string, caPem: string, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, method, servername: "localhost" }, (res) => {
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

const webApp: DesiredApp = {
  name: "web",
  namespace: "web",
  revision: "rev-1",
  digest: "sha256:web-1",
  syncPolicy: { syncOptions: [] },
  ignoreDifferences: [],
  objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "web", namespace: "web" } }],
};

/** A status server on a free port with a fresh self-signed certificate, closed when the test ends. */
async function useStatusServer(
  t: TestContext,
  options: { readiness: () => Readiness; registry: ReturnType<typeof createAgentMetrics>["registry"] },
): Promise<{ server: StatusServer; caPem: string }> {
  const tls = createSelfSignedCert({ hosts: ["localhost", "127.0.0.1"], validityMs: 3_600_000 });
  const server = await serveStatus({ listen: "127.0.0.1:0", tls, ...options });
  t.after(() => server.close());
  return { server, caPem: tls.certPem };
}

describe("serveStatus", () => {
  it("is not ready before the first reconcile pass, then ready, with reconcile totals in /metrics", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "flotilla-serve-status-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const metrics = createAgentMetrics({ defaultMetrics: false });
    const reconciler = createFakePlatform().createReconciler({
      kube: createFakePlatform().kube,
      store: createFileStateStore(join(dir, "state.json.gz")),
      assessHealth: assessResourceHealth,
      onPass: (pass) => metrics.reconciled(pass),
    });
    metrics.observe({ reconciler });
    let reconciled = false;
    const { server, caPem } = await useStatusServer(t, {
      registry: metrics.registry,
      readiness: () =>
        reconciled ? { ready: true } : { ready: false, reason: "the first reconcile pass has not finished" },
    });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);

    assert.deepEqual(await get(`${server.url}/healthz`, caPem), {
      status: 200,
      type: "application/json",
      body: '{"status":"ok"}\n',
    });
    const notReady = await get(`${server.url}/readyz`, caPem);
    assert.equal(notReady.status, 503);
    assert.deepEqual(JSON.parse(notReady.body), {
      status: "not ready",
      reason: "the first reconcile pass has not finished",
    });

    await reconciler.start();
    await reconciler.upsert(webApp);
    await reconciler.reconcileAll();
    reconciled = true;

    assert.equal((await get(`${server.url}/readyz`, caPem)).status, 200);
    const scraped = await get(`${server.url}/metrics`, caPem);
    assert.equal(scraped.status, 200);
    assert.equal(scraped.type, metrics.registry.contentType);
    assert.match(scraped.body, /^flotilla_agent_reconcile_total\{app="web",result="synced"\} 1$/m);
    assert.match(scraped.body, /^flotilla_agent_reconcile_total\{app="web",result="unchanged"\} 1$/m);
    assert.match(scraped.body, /^flotilla_agent_apply_total\{action="created"\} 1$/m);
    assert.match(scraped.body, /^flotilla_agent_apps\{health="Healthy"\} 1$/m);
  });

  it("answers 404 for other paths and 405 for other methods", async (t) => {
    const metrics = createAgentMetrics({ defaultMetrics: false });
    const { server, caPem } = await useStatusServer(t, {
      registry: metrics.registry,
      readiness: () => ({ ready: true }),
    });
    assert.equal((await get(`${server.url}/state`, caPem)).status, 404);
    assert.equal((await get(`${server.url}/metrics`, caPem, "POST")).status, 405);
  });

  it("serves plain HTTP when asked to", async (t) => {
    const metrics = createAgentMetrics({ defaultMetrics: false });
    const server = await serveStatus({
      listen: "127.0.0.1:0",
      tls: "insecure-http",
      registry: metrics.registry,
      readiness: () => ({ ready: true }),
    });
    t.after(() => server.close());
    assert.match(server.url, /^http:\/\//);
    const response = await fetch(`${server.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^flotilla_agent_hub_connected 0$/m);
  });

  it("names the address it cannot use", async () => {
    assert.throws(() => splitListen("8443"), /status listener "8443" must be host:port/);
    assert.deepEqual(splitListen("[::1]:9090"), { host: "::1", port: 9090 });
    assert.deepEqual(splitListen("0.0.0.0:8443"), { host: "0.0.0.0", port: 8443 });
  });
});
