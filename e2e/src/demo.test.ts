// `flotilla demo`, end to end: as a real process (`--once -o json` converges, prints the status
// document and leaves nothing running) and in-process through startDemo (converge, roll web v2
// to the prod clusters, stop).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createKubeClient } from "@flotilla/agent/kube/create-kube-client";
import { loadKubeConfig } from "@flotilla/agent/kube/load-kube-config";
import { hideIpServerNameWarning } from "@flotilla/proto/quiet-warnings";
import { DEMO_CLUSTERS, type Demo, startDemo } from "./demo/start-demo.js";
import { artifactsDir, launchChromium } from "./harness/browser.js";
import { runFlotilla, type StatusJson } from "./harness/hub.js";
import { isProcessAlive } from "./harness/processes.js";

// startDemo's FleetService client dials 127.0.0.1, as the CLI does (which hides the same warning).
hideIpServerNameWarning();

const hubMain = fileURLToPath(new URL("../../hub/src/cli/main.ts", import.meta.url));
const CONVERGE_MS = 5 * 60_000;
/** The whole `demo --once` run: clusters, hub, agents, convergence and the stop. */
const PROCESS_TIMEOUT_MS = 10 * 60_000;

/** What the sample fleet puts where: web only on env=prod, guestbook and hello everywhere. */
const EXPECTED_APPS: Record<string, string[]> = {
  "prod-1": ["guestbook-prod-1", "hello-prod-1", "web-prod-1"],
  "prod-2": ["guestbook-prod-2", "hello-prod-2", "web-prod-2"],
  "staging-1": ["guestbook-staging-1", "hello-staging-1"],
};

/** Opens the demo's dashboard link in headless Chromium and checks the grid against the fleet. */
async function checkDashboard(demo: Demo): Promise<void> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1280, height: 800 },
    });
    const page = await context.newPage();
    await page.goto(demo.dashboardUrl);
    const rows = page.locator("#fleet-grid tbody tr[data-cluster]");
    await rows.nth(2).waitFor();
    assert.deepEqual(
      await rows.evaluateAll((elements) => elements.map((row) => row.getAttribute("data-cluster"))),
      ["prod-1", "prod-2", "staging-1"],
    );
    const columns = (await page.locator("#fleet-grid thead th.app").allInnerTexts()).map((text) =>
      text.trim(),
    );
    assert.deepEqual(columns, ["guestbook", "hello", "web"]);
    for (const [cluster, apps] of Object.entries(EXPECTED_APPS)) {
      for (const column of columns) {
        const label = await page
          .locator(`#fleet-grid tr[data-cluster="${cluster}"] td[data-app="${column}"]`)
          .getAttribute("aria-label");
        const targeted = apps.some((app) => app.startsWith(`${column}-`));
        assert.equal(
          label,
          `${column} on ${cluster}: ${targeted ? "Healthy, Synced" : "not targeted"}`,
          `${column} on ${cluster}`,
        );
      }
    }
    const artifacts = artifactsDir("demo");
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "grid.png"), fullPage: true });
  } finally {
    await browser.close();
  }
}

function assertConvergedFleet(status: StatusJson): void {
  assert.deepEqual(
    status.clusters.map((cluster) => [cluster.name, cluster.labels, cluster.state]),
    [
      ["prod-1", { env: "prod" }, "Connected"],
      ["prod-2", { env: "prod" }, "Connected"],
      ["staging-1", { env: "staging" }, "Connected"],
    ],
  );
  for (const cluster of status.clusters) {
    assert.deepEqual(
      cluster.apps.map((app) => app.name),
      EXPECTED_APPS[cluster.name],
      cluster.name,
    );
    for (const app of cluster.apps)
      assert.deepEqual([app.sync, app.health], ["Synced", "Healthy"], `${cluster.name} ${app.name}`);
  }
}

function run(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=source", "--import", "tsx", ...args],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("flotilla demo", () => {
  it("--once -o json exits 0 with the converged fleet as `status -o json` prints it, and stops everything", async () => {
    const result = await run([hubMain, "demo", "--once", "-o", "json"], PROCESS_TIMEOUT_MS);
    assert.equal(result.code, 0, result.stderr.slice(-6000));
    assertConvergedFleet(JSON.parse(result.stdout) as StatusJson);

    // Every process the demo started (cluster components, agents) is gone, and so is its data.
    const pids = [...result.stderr.matchAll(/\((?:pids ([\d ]+)|pid (\d+)),/g)].flatMap((match) =>
      (match[1] ?? match[2] ?? "").split(" ").map(Number),
    );
    assert.equal(pids.length, 3 * 5 + 3, `5 processes per cluster and 3 agents:\n${result.stderr}`);
    assert.deepEqual(
      pids.filter((pid) => isProcessAlive(pid)),
      [],
      "no process of the demo is left running",
    );
    const dataDir = /data directory (\S+) \(removed at exit\)/.exec(result.stderr)?.[1];
    assert.ok(dataDir, "the demo names its data directory");
    assert.equal(existsSync(dataDir), false, `${dataDir} is removed`);
    assert.match(result.stderr, /demo: stopped\n/);
  });

  describe("in-process (startDemo)", () => {
    let demo: Demo | undefined;
    after(async () => {
      await demo?.stop();
    });

    it("converges, rolls web v2 to the prod clusters only, and stops", async () => {
      demo = await startDemo({ port: 0 });
      assert.deepEqual(
        demo.clusters.map((cluster) => [cluster.name, cluster.labels]),
        DEMO_CLUSTERS.map((cluster) => [cluster.name, cluster.labels]),
      );
      assert.match(demo.dashboardUrl, /^https:\/\/127\.0\.0\.1:\d+\/#token=fla_\S+$/);

      const before = await demo.waitConverged({ timeoutMs: CONVERGE_MS });
      assertConvergedFleet(before);
      // The CLI environment the demo prints reaches the same hub.
      const status = await runFlotilla(["status", "-o", "json"], demo.cliEnv);
      assert.equal(status.code, 0, status.stderr);
      assert.deepEqual(
        (JSON.parse(status.stdout) as StatusJson).clusters.map((cluster) => cluster.name),
        ["prod-1", "prod-2", "staging-1"],
      );

      // The printed dashboard link signs in by itself and the grid shows the demo fleet.
      await checkDashboard(demo);

      const rolled = await demo.rollNewVersion({ timeoutMs: CONVERGE_MS });
      assert.notEqual(rolled.revision, rolled.previousRevision);
      assertConvergedFleet(rolled.status);
      for (const cluster of rolled.status.clusters) {
        const web = cluster.apps.find((app) => app.name.startsWith("web-"));
        if (cluster.labels.env === "prod") assert.equal(web?.revision, rolled.revision, cluster.name);
        else assert.equal(web, undefined, `${cluster.name} has no web`);
      }
      for (const cluster of demo.clusters) {
        const kube = createKubeClient(loadKubeConfig({ kubeconfigPath: cluster.kubeconfigPath }));
        const config = await kube.get("v1", {
          group: "",
          kind: "ConfigMap",
          namespace: "web",
          name: "web-config",
        });
        const deployment = await kube.get("apps/v1", {
          group: "apps",
          kind: "Deployment",
          namespace: "web",
          name: "web",
        });
        if (cluster.labels.env === "prod") {
          assert.equal((config?.data as Record<string, string> | undefined)?.version, "v2", cluster.name);
          assert.ok(deployment, `${cluster.name} has Deployment web/web`);
          const { template } = deployment.spec as { template: { spec: { containers: { image: string }[] } } };
          const containers = template.spec.containers;
          assert.equal(containers[0]?.image, "nginx:1.28", cluster.name);
        } else {
          assert.equal(config, undefined, `${cluster.name} has no web-config`);
        }
      }

      const { dataDir, clusters } = demo;
      await demo.stop();
      const pids = clusters.flatMap((cluster) => [...cluster.pids, cluster.agentPid]);
      assert.deepEqual(
        pids.filter((pid) => isProcessAlive(pid)),
        [],
      );
      assert.equal(existsSync(dataDir), false, `${dataDir} is removed`);
    });
  });
});
