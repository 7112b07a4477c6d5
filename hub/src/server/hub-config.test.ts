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
});
