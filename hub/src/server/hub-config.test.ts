import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadHubConfig } from "./hub-config.js";

let dir: string;
/** `${NAME}` as the config file writes it. */
const envRef = (name: string) => ["$", "{", name, "}"].join("");
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "flotilla-hub-config-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("loadHubConfig", () => {
  it("is the embedded default with nothing set", () => {
    const config = loadHubConfig({}, { HOME: dir, XDG_DATA_HOME: join(dir, "data") }, dir);
    assert.equal(config.dataDir, join(dir, "data", "flotilla", "hub"));
    assert.equal(config.listenHttp, "0.0.0.0:8443");
    assert.equal(config.listenGrpc, undefined);
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.natsUrl, undefined);
    assert.equal(config.pollIntervalMs, 30_000);
    assert.equal(config.heartbeatIntervalMs, 10_000);
    assert.equal(config.allowLocalRepositories, false);
  });

  it("reads the metrics token from the environment or the file, open by default, never echoing it", async () => {
    assert.equal(loadHubConfig({}, { HOME: dir }, dir).metricsToken, undefined);
    const file = join(dir, "metrics.yaml");
    await writeFile(file, `metricsToken: ${envRef("SCRAPE_TOKEN")}\n`);
    assert.equal(
      loadHubConfig({ config: file }, { SCRAPE_TOKEN: "from-file-ref" }, dir).metricsToken,
      "from-file-ref",
    );
    assert.equal(
      loadHubConfig({ config: file }, { SCRAPE_TOKEN: "x", FLOTILLA_METRICS_TOKEN: "from-env" }, dir)
        .metricsToken,
      "from-env",
    );
    assert.throws(
      () => loadHubConfig({}, { FLOTILLA_METRICS_TOKEN: "has space" }, dir),
      (error: Error) =>
        /FLOTILLA_METRICS_TOKEN must be printable ASCII without spaces/.test(error.message) &&
        !error.message.includes("has space"),
    );
  });

  it("takes flags over the environment over the file, and reads secrets from environment references", async () => {
    const file = join(dir, "hub.yaml");
    await writeFile(
      file,
      [
        "dataDir: from-file",
        "listenHttp: 127.0.0.1:9000",
        "pollInterval: 1m",
        "natsUrl: nats://file:4222",
        "sources:",
        "  - name: infra",
        "    repoURL: https://git.example/infra.git",
        "    path: apps",
        `    webhookSecret: ${envRef("HOOK_SECRET")}`,
        "repositories:",
        "  - url: https://git.example/charts.git",
        `    token: ${envRef("CHARTS_TOKEN")}`,
      ].join("\n"),
    );
    const config = loadHubConfig(
      { config: file, listenHttp: "127.0.0.1:9100" },
      {
        FLOTILLA_DATA_DIR: "from-env",
        HOOK_SECRET: "s3cret",
        CHARTS_TOKEN: "t0ken",
        NATS_URL: "nats://env:4222",
      },
      dir,
    );
    assert.equal(config.dataDir, join(dir, "from-env"));
    assert.equal(config.listenHttp, "127.0.0.1:9100");
    assert.equal(config.natsUrl, "nats://env:4222");
    assert.equal(config.pollIntervalMs, 60_000);
    assert.deepEqual(config.sources, [
      {
        name: "infra",
        repoUrl: "https://git.example/infra.git",
        path: "apps",
        targetRevision: "HEAD",
        pollIntervalMs: 60_000,
        webhookSecret: "s3cret",
      },
    ]);
    assert.deepEqual(config.repositories, [
      { url: "https://git.example/charts.git", credentials: { token: "t0ken" } },
    ]);
  });

  it("names the setting and the cause of a bad value, without echoing secrets", async () => {
    assert.throws(
      () => loadHubConfig({ listenHttp: "nowhere" }, {}, dir),
      /--listen-http "nowhere" must be host:port/,
    );
    assert.throws(
      () => loadHubConfig({}, { FLOTILLA_POLL_INTERVAL: "soon" }, dir),
      /FLOTILLA_POLL_INTERVAL: "soon" is not a duration/,
    );
    assert.throws(
      () => loadHubConfig({ publicUrl: "http://x" }, {}, dir),
      /must look like https:\/\/host:port/,
    );
    assert.throws(
      () => loadHubConfig({ config: join(dir, "missing.yaml") }, {}, dir),
      /missing\.yaml: cannot read it/,
    );
    const file = join(dir, "bad.yaml");
    await writeFile(file, "sources:\n  - name: Bad_Name\n    repoURL: x\n");
    assert.throws(() => loadHubConfig({ config: file }, {}, dir), /sources\[0\]: "name" must be a DNS label/);
    await writeFile(
      file,
      `sources:\n  - name: ok\n    repoURL: x\n    webhookSecret: ${envRef("UNSET_SECRET")}\n`,
    );
    assert.throws(
      () => loadHubConfig({ config: file }, {}, dir),
      /names environment variable UNSET_SECRET, which is not set/,
    );
  });

  it("reads the notifications section, with none by default and errors naming the target", async () => {
    assert.deepEqual(loadHubConfig({}, { HOME: dir }, dir).notifications.targets, []);
    const file = join(dir, "notify.yaml");
    await writeFile(
      file,
      [
        "notifications:",
        "  maxAttempts: 2",
        "  targets:",
        "    - name: ops-slack",
        `      url: https://hooks.slack.com/services/${envRef("SLACK_PATH")}`,
        "      format: slack",
        "      selector: env=prod",
      ].join("\n"),
    );
    const config = loadHubConfig({ config: file }, { SLACK_PATH: "T1/B2/xyz" }, dir);
    assert.equal(config.notifications.maxAttempts, 2);
    assert.deepEqual(
      config.notifications.targets.map((target) => [target.name, target.url, target.format]),
      [["ops-slack", "https://hooks.slack.com/services/T1/B2/xyz", "slack"]],
    );
    await writeFile(
      file,
      "notifications:\n  targets:\n    - name: ops\n      url: https://x/\n      format: teams\n",
    );
    assert.throws(
      () => loadHubConfig({ config: file }, {}, dir),
      /notify\.yaml: notifications\.targets\[0\] \(ops\): unknown "format" "teams"/,
    );
  });
});
