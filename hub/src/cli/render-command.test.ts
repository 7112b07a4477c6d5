import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { useFixtureRepo } from "../resolve/fixture-repo.js";
import { TRACKING_ANNOTATION } from "../resolve/tracking.js";
import type { RenderDocument } from "./render-command.js";
import { describeError } from "./run-cli.js";
import { CLUSTERS_FILE, type CliRun, EXAMPLES_URL, useCli } from "./use-cli.js";

describe("flotilla render", () => {
  const repo = useFixtureRepo({ fixture: "argocd-example-apps" });
  const flotilla = useCli();
  const render = (...extra: string[]) =>
    flotilla(
      "render",
      "--repo",
      repo().dir,
      "--path",
      "apps",
      "--clusters",
      CLUSTERS_FILE,
      "--repo-map",
      `${EXAMPLES_URL}=${repo().dir}`,
      ...extra,
    );
  let document: RenderDocument;

  it("prints the JSON contract: revision, clusters.<c>.apps.<a>.{namespace, source, digest, objects}, problems", async () => {
    const run = await render("-o", "json");
    assert.equal(run.err, "");
    assert.equal(run.code, 0);
    document = JSON.parse(run.out) as RenderDocument;
    assert.deepEqual(Object.keys(document), ["revision", "clusters", "problems"]);
    assert.equal(document.revision, await repo().git("rev-parse", "HEAD"));
    assert.deepEqual(Object.keys(document.clusters), ["edge-1", "in-cluster"]);
    assert.deepEqual(document.clusters["edge-1"], { apps: {} });
    const apps = document.clusters["in-cluster"]?.apps ?? {};
    assert.deepEqual(Object.keys(apps), [
      "example.guestbook",
      "example.helm-guestbook",
      "example.helm-hooks",
      "example.kustomize-guestbook",
      "example.sync-waves",
    ]);
    const guestbook = apps["example.guestbook"];
    assert.deepEqual(guestbook && Object.keys(guestbook), ["namespace", "source", "digest", "objects"]);
    assert.equal(guestbook?.namespace, "guestbook");
    assert.deepEqual(guestbook?.source, {
      repoURL: EXAMPLES_URL,
      path: "guestbook",
      targetRevision: "HEAD",
      commit: document.revision,
    });
    assert.match(guestbook?.digest ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(guestbook?.objects, [
      { apiVersion: "v1", kind: "Service", namespace: "guestbook", name: "guestbook-ui" },
      { apiVersion: "apps/v1", kind: "Deployment", namespace: "guestbook", name: "guestbook-ui" },
    ]);
    assert.deepEqual(document.problems, [
      {
        app: "example.plugin-kasane",
        kind: "unsupported",
        message: "config management plugin kasane: Flotilla does not run plugins",
      },
    ]);
  });

  it("exits 0 when the output has problems", () => {
    assert.ok(document.problems.length > 0);
  });

  it("lists an object that has only generateName by that generateName", () => {
    const objects = document.clusters["in-cluster"]?.apps["example.sync-waves"]?.objects ?? [];
    assert.deepEqual(
      objects.filter((o) => o.kind === "Job").map((o) => o.name),
      ["maint-page-down", "maint-page-up", "upgrade-sql-schema"],
    );
  });

  it("adds the full rendered object as `manifest` with --manifests", async () => {
    const run = await render("--manifests");
    const withManifests = JSON.parse(run.out) as RenderDocument;
    const objects = withManifests.clusters["in-cluster"]?.apps["example.helm-guestbook"]?.objects ?? [];
    assert.equal(objects.length, 2);
    for (const entry of objects) {
      assert.deepEqual(Object.keys(entry), ["apiVersion", "kind", "namespace", "name", "manifest"]);
      assert.equal(entry.manifest?.metadata.name, entry.name);
      assert.equal(
        entry.manifest?.metadata.annotations?.[TRACKING_ANNOTATION],
        `example.helm-guestbook:${entry.apiVersion === "v1" ? "" : "apps"}/${entry.kind}:helm-guestbook/helm-guestbook`,
      );
    }
    const { manifest: _, ...entry } = objects[0] ?? { manifest: undefined };
    assert.deepEqual(entry, document.clusters["in-cluster"]?.apps["example.helm-guestbook"]?.objects[0]);
  });

  it("prints the same document as YAML with -o yaml", async () => {
    const run = await render("-o", "yaml");
    assert.equal(run.code, 0);
    assert.deepEqual(parse(run.out), document);
  });

  it("prints a row per cluster and app, then the problems, with -o table", async () => {
    const run = await render("-o", "table");
    assert.equal(run.code, 0);
    const lines = run.out.split("\n");
    assert.equal(lines[0], `revision ${document.revision}`);
    assert.match(lines[1] ?? "", /^CLUSTER\s+APP\s+NAMESPACE\s+OBJECTS\s+DIGEST$/);
    const digest = document.clusters["in-cluster"]?.apps["example.sync-waves"]?.digest.slice(7, 19) ?? "";
    assert.match(
      run.out,
      new RegExp(`in-cluster\\s+example\\.sync-waves\\s+sync-waves\\s+7\\s+${digest}\\n`),
    );
    assert.equal(lines.filter((l) => l.startsWith("in-cluster ")).length, 5);
    assert.match(
      run.out,
      /\nproblems:\n {2}example\.plugin-kasane: unsupported: config management plugin kasane/,
    );
  });

  it("renders an older commit, child apps included, with --revision", async () => {
    const first = document.revision;
    const values = "helm-guestbook/values.yaml";
    const text = await repo().git("show", `HEAD:${values}`);
    await repo().commit({ [values]: text.replace("replicaCount: 1", "replicaCount: 5") });
    const digestOf = (run: CliRun) =>
      (JSON.parse(run.out) as RenderDocument).clusters["in-cluster"]?.apps["example.helm-guestbook"]?.digest;
    const old = await render("--revision", first.slice(0, 10));
    assert.equal((JSON.parse(old.out) as RenderDocument).revision, first);
    assert.equal(digestOf(old), document.clusters["in-cluster"]?.apps["example.helm-guestbook"]?.digest);
    assert.notEqual(digestOf(await render()), digestOf(old));
  });

  describe("usage errors exit 2 with a message and the usage", () => {
    for (const [what, args, message] of [
      ["no --repo", ["--path", "apps", "--clusters", CLUSTERS_FILE], /--repo is required/],
      ["no --path", ["--repo", ".", "--clusters", CLUSTERS_FILE], /--path is required/],
      ["no --clusters", ["--repo", ".", "--path", "apps"], /--clusters is required/],
      [
        "an unknown output",
        ["--repo", ".", "--path", "a", "--clusters", "c", "-o", "xml"],
        /-o must be one of json, yaml, table/,
      ],
      ["an unknown flag", ["--repo", ".", "--path", "a", "--clusters", "c", "--frobnicate"], /frobnicate/],
      [
        "a --repo-map without =",
        ["--repo", ".", "--path", "a", "--clusters", "c", "--repo-map", "https://x"],
        /--repo-map "https:\/\/x" must look like <url>=<dir\|url>/,
      ],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const run = await flotilla("render", ...args);
        assert.equal(run.code, 2);
        assert.equal(run.out, "");
        assert.match(run.err, message);
        assert.match(run.err, /Usage: flotilla render --repo <dir\|url>/);
      });
    }
  });

  it("fails with the path in the message when --repo cannot be read", async () => {
    const missing = join(repo().dir, "..", "no-such-repo");
    await assert.rejects(
      flotilla("render", "--repo", missing, "--path", "apps", "--clusters", CLUSTERS_FILE),
      (error) => {
        assert.match(describeError(error), new RegExp(`cannot read ${missing} at HEAD`));
        return true;
      },
    );
  });

  it("fails with the path in the message when the clusters file is missing", async () => {
    const missing = join(repo().dir, "no-clusters.yaml");
    await assert.rejects(
      flotilla("render", "--repo", repo().dir, "--path", "apps", "--clusters", missing),
      new RegExp(`${missing}: no such file`),
    );
  });
});
