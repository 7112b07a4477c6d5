// The web dashboard in real headless Chromium (the Debian package, driven by playwright-core)
// against a real hub process, two real kube-apiservers joined with the printed join command and
// a fleet in a real Git repository: the grid shows every cluster and app, a label selector
// narrows it, a health change in a cluster appears without a reload, and the cluster and app
// pages show per-resource status and event history. Screenshots go to e2e/artifacts/dashboard/.
// The rollouts page runs against a second hub process on a real PostgreSQL, whose store the
// test seeds with rollouts while the hub runs (a hub on PGlite holds its database alone).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { generateToken, parseToken } from "@flotilla/hub/auth/tokens";
import type { RolloutMember, RolloutState } from "@flotilla/hub/rollout/rollout-state";
import { openStore } from "@flotilla/hub/store/open-store";
import type { Store } from "@flotilla/hub/store/store";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { stringify } from "yaml";
import { adminKube, makeTempDir, waitFor } from "./harness/agent.js";
import { artifactsDir, launchChromium } from "./harness/browser.js";
import { type Cluster, useClusters } from "./harness/cluster.js";
import { type GitServer, useGitServer } from "./harness/git-server.js";
import {
  fleetStatus,
  type HubProcess,
  joinArgs,
  type ManagedProcess,
  runFlotilla,
  startAgentProcess,
  startHubProcess,
} from "./harness/hub.js";
import { usePostgres } from "./harness/postgres.js";

const ARTIFACTS = artifactsDir("dashboard");
const CONVERGE_MS = 180_000;
const LIVE_MS = 60_000;

/** What the browser checks need to know about the fleet under test. */
type DashboardFleet = {
  hub: HubProcess;
  /** Cluster name to its real cluster. */
  clusters: Map<string, Cluster>;
  /** Grid columns by cluster (the cells that are not empty). */
  expected: Record<string, string[]>;
  /** The commit the fleet is at, with its message. */
  commit: { sha: string; message: string };
  /**
   * An app of one object whose syncPolicy is automated without self-heal: deleting the object
   * makes it Missing (every resource Missing) and OutOfSync, and it stays so.
   */
  fragile: { app: string; cluster: string; column: string; namespace: string; configMap: string };
  agents: ManagedProcess[];
};

/** `text` with every run of white space as one space, trimmed. */
function words(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** What a person sees in an element: cells of a row are separated by tabs, as in `innerText`. */
function textOf(locator: Locator): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, whose innerText is the rendered text
  return locator.innerText();
}

const COMMIT_MESSAGE = "fleet: base everywhere, web on prod, docs on staging";

/**
 * The fleet, in one place (the demo fleet may replace it): clusters `prod-1` (env=prod) and
 * `staging-1` (env=staging), joined with the printed command; apps of plain YAML ConfigMaps:
 * `base` (an ApplicationSet over every cluster, self-healing), `web` (an ApplicationSet over
 * env=prod, automated without self-heal, so a deleted object stays Missing) and `docs` (one
 * Application for staging-1). Resolves once every app is Synced and Healthy.
 */
async function startFleet(setup: {
  realClusters: Cluster[];
  git: GitServer;
  workDir: string;
}): Promise<DashboardFleet> {
  const { realClusters, git, workDir } = setup;
  const repoUrl = git.repoUrl("fleet");
  const template = (name: string, selector?: Record<string, string>, selfHeal = true) =>
    stringify({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "ApplicationSet",
      metadata: { name, namespace: "argocd" },
      spec: {
        generators: [{ clusters: selector ? { selector: { matchLabels: selector } } : {} }],
        template: {
          metadata: { name: `${name}-{{name}}` },
          spec: {
            project: "default",
            source: { repoURL: repoUrl, path: name, targetRevision: "HEAD" },
            destination: { name: "{{name}}", namespace: name },
            syncPolicy: { automated: { prune: true, selfHeal }, syncOptions: ["CreateNamespace=true"] },
          },
        },
      },
    });
  const configMap = (name: string, data: Record<string, string>) =>
    stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data });
  const sha = await git.createRepo(
    "fleet",
    {
      "apps/base.yaml": template("base"),
      "apps/web.yaml": template("web", { env: "prod" }, false),
      "apps/docs.yaml": stringify({
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Application",
        metadata: { name: "docs", namespace: "argocd" },
        spec: {
          project: "default",
          source: { repoURL: repoUrl, path: "docs" },
          destination: { name: "staging-1", namespace: "docs" },
          syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ["CreateNamespace=true"] },
        },
      }),
      "base/info.yaml": configMap("fleet-info", { owner: "platform" }),
      "web/web.yaml": configMap("web-config", { color: "blue" }),
      "docs/docs.yaml": configMap("docs-config", { theme: "light" }),
    },
    { message: COMMIT_MESSAGE },
  );

  const hub = await startHubProcess({ dataDir: join(workDir, "hub") });
  const source = await runFlotilla(
    ["source", "add", "fleet", "--repo", repoUrl, "--path", "apps"],
    hub.cliEnv,
  );
  assert.equal(source.code, 0, source.stderr);
  const token = await runFlotilla(["cluster", "token", "create", "--uses", "2", "--ttl", "1h"], hub.cliEnv);
  assert.equal(token.code, 0, token.stderr);

  const names = ["prod-1", "staging-1"];
  const labels = ["env=prod", "env=staging"];
  const agents: ManagedProcess[] = [];
  const clusters = new Map<string, Cluster>();
  for (const [i, cluster] of realClusters.entries()) {
    const name = names[i] ?? "";
    clusters.set(name, cluster);
    agents.push(
      startAgentProcess([
        ...joinArgs(token.stdout.trim()),
        "--kubeconfig",
        cluster.kubeconfigPath,
        "--name",
        name,
        "--label",
        labels[i] ?? "",
        "--state-file",
        join(workDir, `agent-${name}.json`),
      ]),
    );
  }
  const expected = { "prod-1": ["base", "web"], "staging-1": ["base", "docs"] };
  const apps = { "prod-1": ["base-prod-1", "web-prod-1"], "staging-1": ["base-staging-1", "docs"] };
  let last: unknown;
  await waitFor(
    "every app Synced and Healthy",
    async () => {
      const status = await fleetStatus(hub);
      last = status;
      const ready = Object.entries(apps).every(([name, wanted]) => {
        const cluster = status.clusters.find((candidate) => candidate.name === name);
        const seen = (cluster?.apps ?? []).filter((app) => app.sync === "Synced" && app.health === "Healthy");
        return (
          cluster?.state === "Connected" &&
          seen
            .map((app) => app.name)
            .sort()
            .join() === wanted.join()
        );
      });
      return ready ? status : undefined;
    },
    CONVERGE_MS,
  ).catch((error: Error) => {
    const agentTails = agents.map((agent, i) => `agent ${names[i]}:\n${agent.output().slice(-1500)}`);
    throw new Error(
      [
        error.message,
        `last status: ${JSON.stringify(last)}`,
        `hub log tail:\n${hub.output().slice(-3000)}`,
        ...agentTails,
      ].join("\n"),
    );
  });
  return {
    hub,
    clusters,
    expected,
    commit: { sha, message: COMMIT_MESSAGE },
    fragile: {
      app: "web-prod-1",
      cluster: "prod-1",
      column: "web",
      namespace: "web",
      configMap: "web-config",
    },
    agents,
  };
}

describe("web dashboard in headless Chromium", () => {
  const realClusters = useClusters(2);
  const git = useGitServer();
  let work: { path: string; remove(): Promise<void> };
  let fleet: DashboardFleet | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  /** Console errors and uncaught exceptions of the page (CSP violations arrive as errors). */
  const pageErrors: string[] = [];

  const cell = (cluster: string, column: string) =>
    page.locator(`#fleet-grid tr[data-cluster="${cluster}"] td[data-app="${column}"]`);
  const rowNames = () =>
    page
      .locator("#fleet-grid tbody tr[data-cluster]")
      .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-cluster")));
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    work = await makeTempDir("flotilla-dashboard-");
    fleet = await startFleet({ realClusters: realClusters(), git: git(), workDir: work.path });
    browser = await launchChromium();
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      const url = message.location().url;
      // The page of a column asks for an app of that name first; its 404 is expected.
      if (/\/api\/v1\/apps\/[^/?]+$/.test(url) && message.text().includes("404")) return;
      pageErrors.push(`console: ${message.text()} (${url})`);
    });
    page.on("pageerror", (error) => pageErrors.push(`page: ${error.message}`));
  });

  after(async () => {
    await browser?.close();
    for (const agent of fleet?.agents ?? []) await agent.stop();
    await fleet?.hub.stop();
    await work?.remove();
  });

  it("asks for a token, then takes one from #token= and strips it from the address", async () => {
    const { hub } = fleet as DashboardFleet;
    await page.goto(`${hub.url}/`);
    await page.locator("#login-token").waitFor();
    assert.equal(await page.title(), "Sign in · Flotilla");

    await page.goto(`${hub.url}/#token=${encodeURIComponent(hub.adminToken)}`);
    await page.locator("#fleet-grid tbody tr[data-cluster]").first().waitFor();

    assert.ok(!page.url().includes(hub.adminToken), "the token must leave the address bar at once");
    assert.equal(new URL(page.url()).hash, "#/");
    assert.equal(await page.evaluate("sessionStorage.getItem('flotilla.apiToken')"), hub.adminToken);
    assert.equal(await page.evaluate("document.cookie"), "");
  });

  it("renders every cluster and app of the fleet, coloured by health, with counts", async () => {
    const { expected } = fleet as DashboardFleet;
    assert.deepEqual(await rowNames(), ["prod-1", "staging-1"]);
    const headers = await page.locator("#fleet-grid thead th.app").allInnerTexts();
    assert.deepEqual(
      headers.map((text) => text.trim()),
      ["base", "docs", "web"],
    );
    for (const [cluster, columns] of Object.entries(expected)) {
      for (const column of ["base", "docs", "web"]) {
        const target = cell(cluster, column);
        if (columns.includes(column)) {
          assert.equal(await target.getAttribute("aria-label"), `${column} on ${cluster}: Healthy, Synced`);
          assert.match((await target.getAttribute("class")) ?? "", /\bhealth-healthy\b.*\bsync-synced\b/);
        } else {
          assert.equal(await target.getAttribute("aria-label"), `${column} on ${cluster}: not targeted`);
          assert.match((await target.getAttribute("class")) ?? "", /\bnone\b/);
        }
      }
    }
    assert.equal(words(await textOf(page.locator("#matched-clusters"))), "2 clusters");
    assert.match(await textOf(page.locator("#grid-summary")), /4\s+apps/);
    assert.equal(await textOf(page.locator("#live-state")), "live");
    await shot("grid");
  });

  it("narrows rows and counts to env=prod when the selector filter is typed, in a linkable address", async () => {
    await page.evaluate("window.__dashboardMarker = 'no reload since the grid loaded'");
    await page.locator("#filter-selector").fill("env=prod");

    await waitFor(
      "only prod-1 in the grid",
      async () => ((await rowNames()).join() === "prod-1" ? true : undefined),
      15_000,
    );
    assert.equal(words(await textOf(page.locator("#matched-clusters"))), "1 cluster");
    assert.match(await textOf(page.locator("#grid-summary")), /2\s+apps/);
    assert.equal(new URL(page.url()).hash, "#/?selector=env%3Dprod");
    await shot("filtered");
  });

  it("shows a health change in a cluster live, without reloading the page", async () => {
    const { clusters, fragile } = fleet as DashboardFleet;
    const target = cell(fragile.cluster, fragile.column);
    assert.equal(
      await target.getAttribute("aria-label"),
      `${fragile.column} on ${fragile.cluster}: Healthy, Synced`,
    );

    // The app syncs automatically but without self-heal: the agent reports the object Missing.
    await adminKube(clusters.get(fragile.cluster) as Cluster).delete("v1", {
      group: "",
      kind: "ConfigMap",
      namespace: fragile.namespace,
      name: fragile.configMap,
    });

    const label = await waitFor(
      "the cell to turn Missing and OutOfSync",
      async () => {
        const text = await target.getAttribute("aria-label");
        return text?.startsWith(`${fragile.column} on ${fragile.cluster}: Missing, OutOfSync`)
          ? text
          : undefined;
      },
      LIVE_MS,
    );
    assert.equal(label, `${fragile.column} on ${fragile.cluster}: Missing, OutOfSync`);
    assert.match((await target.getAttribute("class")) ?? "", /\bhealth-missing\b.*\bsync-outofsync\b/);
    assert.equal(
      await page.evaluate("window.__dashboardMarker"),
      "no reload since the grid loaded",
      "the page must not have reloaded",
    );
    // Counts follow (debounced).
    await waitFor(
      "the Missing count",
      async () => ((await textOf(page.locator("#grid-summary"))).match(/1\s+Missing/) ? true : undefined),
      15_000,
    );
    await shot("live-change");
  });

  it("opens a cluster page with its labels, apps and recent events", async () => {
    const { fragile } = fleet as DashboardFleet;
    await page.locator(`#fleet-grid tr[data-cluster="${fragile.cluster}"] th a`).click();
    await page.locator("#cluster-apps-table").waitFor();

    assert.equal((await textOf(page.locator("h1"))).split(/\s/)[0], fragile.cluster);
    assert.match(await textOf(page.locator("dl.details").first()), /env=prod/);
    const row = page.locator(`#cluster-apps-table tr[data-app="${fragile.app}"]`);
    await waitFor(
      "the cluster page to show the app Missing",
      async () => ((await textOf(row)).includes("Missing") ? true : undefined),
      15_000,
    );
    assert.match(await textOf(row), /OutOfSync/);
    assert.ok(
      (await page.locator("#cluster-events ~ .events-table tbody tr").count()) > 0,
      "recent events listed",
    );
    await shot("cluster-page");
  });

  it("opens an app page with per-resource status, the commit and the event history", async () => {
    const { fragile, commit } = fleet as DashboardFleet;
    await page.locator(`#cluster-apps-table tr[data-app="${fragile.app}"] th a`).click();
    await page.locator("#app-resources-table").waitFor();

    assert.equal(await textOf(page.locator("h1")), fragile.app);
    const missing = page.locator(
      `#app-resources-table tr[data-kind="ConfigMap"][data-name="${fragile.configMap}"]`,
    );
    assert.match(await textOf(missing), /OutOfSync[\s\S]*Missing/);
    assert.equal(await page.locator("#app-resources-table tbody tr").count(), 1);
    assert.equal(await textOf(page.locator("#app-commit")), commit.sha.slice(0, 7));
    assert.equal(await textOf(page.locator("#app-commit-message")), commit.message);
    assert.match(await textOf(page.locator("#app-revision").locator("xpath=..")), /Flotilla Test/);
    const kinds = await page
      .locator("#app-events ~ .events-table tbody tr")
      .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-kind")));
    assert.ok(kinds.includes("desired-changed"), `event kinds: ${kinds.join(", ")}`);
    await shot("app-page");
  });

  it("lists the per-cluster apps of a column on the column's page", async () => {
    const { hub } = fleet as DashboardFleet;
    await page.goto(`${hub.url}/#/apps/base`);
    await page.locator("#column-apps-table").waitFor();
    const apps = await page
      .locator("#column-apps-table tbody tr")
      .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-app")));
    assert.deepEqual(apps, ["base-prod-1", "base-staging-1"]);
  });

  it("loaded everything from the hub under its CSP, without script errors", () => {
    assert.deepEqual(pageErrors, []);
  });
});

const HOUR_MS = 3_600_000;

/**
 * The rollouts the page is checked against, as the rollout controller stores them. `checkout`
 * bakes step 2/3 (prod-eu) for an hour with us-1 and us-2 held back for step 3; `payments`
 * failed at its canary. Members are on clusters this hub has never seen, so a controller that
 * runs leaves them where they are (offline members are neither released nor failed).
 */
function seededRollouts(now: Date): RolloutState[] {
  const at = now.toISOString();
  const member = (cluster: string, app: string, step: number, extra: Partial<RolloutMember> = {}) => ({
    clusterId: randomUUID(),
    cluster,
    app,
    step,
    wanted: { digest: `sha256:${app}-2`, bundleDigest: "", desired: {} },
    stable: { digest: `sha256:${app}-1`, bundleDigest: "", desired: {} },
    ...extra,
  });
  const done = { releasedAt: at, doneAt: at };
  const declaration = (name: string, steps: [string, string][]) => ({
    name,
    origin: "Rollout" as const,
    declaredBy: "fleet",
    steps: steps.map(([step, region]) => ({
      name: step,
      selector: { clusters: { matchLabels: { region } } },
      maxUnavailable: { percent: 50 },
      bakeTimeMs: HOUR_MS,
    })),
    progressDeadlineMs: 600_000,
    rollback: false,
    offline: { policy: "wait" as const },
    apps: [name],
  });
  const common = {
    generation: 2,
    commit: "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    startedAt: at,
    updatedAt: at,
  };
  return [
    {
      ...common,
      name: "checkout",
      declaration: declaration("checkout", [
        ["canary", "staging"],
        ["prod-eu", "eu"],
        ["prod-us", "us"],
      ]),
      phase: "Progressing",
      step: 1,
      stepCount: 3,
      stepStartedAt: at,
      bakeStartedAt: at,
      message: "step 2/3 prod-eu baking",
      failures: [],
      members: [
        member("staging-1", "checkout", 0, { ...done, passed: true }),
        member("eu-1", "checkout", 1, done),
        member("eu-2", "checkout", 1, done),
        member("us-1", "checkout", 2),
        member("us-2", "checkout", 2),
      ],
    },
    {
      ...common,
      name: "payments",
      declaration: declaration("payments", [
        ["canary", "staging"],
        ["prod", "eu"],
      ]),
      phase: "Failed",
      step: 0,
      stepCount: 2,
      stepStartedAt: at,
      message: "failed at step 1/2 canary: staging-1 (payments: Degraded)",
      failures: [
        {
          cluster: "staging-1",
          app: "payments",
          message: "Degraded: Deployment payments has 0/2 ready replicas",
          resources: [
            {
              kind: "Deployment",
              namespace: "payments",
              name: "payments",
              health: "Degraded",
              message: "0/2 replicas ready",
            },
          ],
        },
      ],
      members: [member("staging-1", "payments", 0, { releasedAt: at }), member("eu-1", "payments", 1)],
    },
  ];
}

describe("rollouts page in headless Chromium", () => {
  const postgres = usePostgres();
  let work: { path: string; remove(): Promise<void> };
  let hub: HubProcess | undefined;
  let store: Store | undefined;
  let browser: Browser | undefined;
  let viewerToken: string;
  const pageErrors: string[] = [];

  const panel = (page: Page, name: string) =>
    page.locator(`#rollout-list section.rollout[data-rollout="${name}"]`);

  async function openPage(token: string): Promise<Page> {
    const context = await (browser as Browser).newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error")
        pageErrors.push(`console: ${message.text()} (${message.location().url})`);
    });
    page.on("pageerror", (error) => pageErrors.push(`page: ${error.message}`));
    await page.goto(`${(hub as HubProcess).url}/#token=${encodeURIComponent(token)}`);
    await page.locator("#nav-rollouts").click();
    await page.locator("#rollout-list section.rollout, #rollouts-empty").first().waitFor();
    return page;
  }

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    work = await makeTempDir("flotilla-dashboard-rollouts-");
    const databaseUrl = await postgres().createDatabase("dashboard_rollouts");
    hub = await startHubProcess({ dataDir: join(work.path, "hub"), env: { DATABASE_URL: databaseUrl } });
    store = await openStore({ kind: "postgres", url: databaseUrl });
    const text = generateToken("api");
    const parsed = parseToken(text);
    assert.ok(parsed);
    await store.apiTokens.create({
      id: parsed.id,
      secret: parsed.secret,
      name: "rollout-viewer",
      role: "viewer",
    });
    viewerToken = text;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await hub?.stop();
    await store?.close();
    await work?.remove();
  });

  it("shows an empty state before any rollout exists", async () => {
    const page = await openPage((hub as HubProcess).adminToken);

    assert.match(await textOf(page.locator("#rollouts-empty")), /No rollouts/);
    assert.equal(await page.title(), "Rollouts · Flotilla");
    await page.context().close();
  });

  it("shows each rollout's phase, step, bake, members and waiting clusters, and its failures", async () => {
    for (const state of seededRollouts(new Date()))
      await (store as Store).rollouts.put(state.name, state as unknown as Record<string, unknown>);
    const page = await openPage((hub as HubProcess).adminToken);
    const checkout = panel(page, "checkout");
    await checkout.waitFor();

    const phase = checkout.locator("[data-field=phase]");
    assert.equal(await textOf(phase), "Progressing");
    assert.match((await phase.getAttribute("class")) ?? "", /\bphase-progressing\b/);
    assert.equal(await textOf(checkout.locator("[data-field=step]")), "step 2/3 prod-eu");
    assert.match(await textOf(checkout.locator("[data-field=bake]")), /^baking, (59 min( \d+ s)?|1 h) left$/);
    const waiting = await checkout.locator("[data-field=waiting] a").allInnerTexts();
    assert.deepEqual(waiting, ["us-1", "us-2"]);
    const counts = Object.fromEntries(
      await checkout
        .locator("[data-count]")
        .evaluateAll((chips) =>
          chips.map((chip) => [chip.getAttribute("data-count"), chip.textContent?.trim()]),
        ),
    );
    assert.deepEqual(counts, {
      updated: "3 updated",
      updating: "0 updating",
      waiting: "2 waiting",
      failed: "0 failed",
      rolledBack: "0 rolled back",
      skipped: "0 skipped",
    });

    const payments = panel(page, "payments");
    assert.equal(await textOf(payments.locator("[data-field=phase]")), "Failed");
    assert.match(
      (await payments.locator("[data-field=phase]").getAttribute("class")) ?? "",
      /\bphase-failed\b/,
    );
    const failure = payments.locator(
      '[data-field=failures] tr[data-cluster="staging-1"][data-app="payments"]',
    );
    assert.match(await textOf(failure), /0\/2 ready replicas/);
    assert.match(await textOf(failure), /Deployment\/payments\/payments Degraded: 0\/2 replicas ready/);
    await page.screenshot({ path: join(ARTIFACTS, "rollouts.png"), fullPage: true });
    await page.context().close();
  });

  it("gives a viewer no controls", async () => {
    const page = await openPage(viewerToken);
    await panel(page, "checkout").waitFor();

    assert.equal(await page.locator("#rollout-list button[data-action]").count(), 0);
    await page.context().close();
  });

  it("pauses a rollout from the Pause button of an admin", async () => {
    const page = await openPage((hub as HubProcess).adminToken);
    const checkout = panel(page, "checkout");
    const pause = checkout.locator('button[data-action="pause"]');
    assert.equal(await pause.isEnabled(), true);
    assert.equal(await checkout.locator('button[data-action="resume"]').isEnabled(), false);

    await pause.click();

    // Without a controller on this hub the command stays queued (the page says so after the
    // API's wait); with one, the rollout turns Paused.
    const outcome = await waitFor(
      "the pause to be answered",
      async () => {
        const text =
          (await checkout
            .locator("[data-field=outcome]")
            .textContent({ timeout: 1_000 })
            .catch(() => "")) ?? "";
        return /queued|done/.test(text) ? text : undefined;
      },
      30_000,
    );
    const queued = (await (store as Store).rollouts.listCommands()).filter(
      (command) => command.rollout === "checkout",
    );
    const stored = await (store as Store).rollouts.get("checkout");
    const phase = (stored?.state as { phase?: string } | undefined)?.phase;
    if (/queued/.test(outcome)) {
      assert.deepEqual(
        queued.map(({ action, all, actor }) => ({ action, all, actor })),
        [{ action: "pause", all: false, actor: "admin" }],
      );
    } else {
      assert.equal(phase, "Paused");
      assert.equal(await textOf(checkout.locator("[data-field=phase]")), "Paused");
      assert.equal(await checkout.locator("[data-field=bake]").count(), 0, "a paused rollout does not bake");
    }
    await page.screenshot({ path: join(ARTIFACTS, "rollouts-paused.png"), fullPage: true });
    await page.context().close();
  });

  it("loaded the rollouts page under the hub's CSP without script errors", () => {
    assert.deepEqual(pageErrors, []);
  });
});
