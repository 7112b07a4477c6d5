import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { FleetDiff } from "../plan/diff-resolutions.js";
import { useFixtureRepo } from "../resolve/fixture-repo.js";
import type { Problem } from "../resolve/problem.js";
import { CLUSTERS_FILE, EXAMPLES_URL, useCli } from "./use-cli.js";

type DiffDocument = FleetDiff & { from: string; to: string; problems: { from: Problem[]; to: Problem[] } };

describe("flotilla diff", () => {
  const repo = useFixtureRepo({ fixture: "argocd-example-apps" });
  const flotilla = useCli();
  let from = "";
  let to = "";
  const diff = (...extra: string[]) =>
    flotilla(
      "diff",
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

  before(async () => {
    from = await repo().git("rev-parse", "HEAD");
    const show = (path: string) => repo().git("show", `HEAD:${path}`);
    const values = await show("apps/values.yaml");
    const chartValues = await show("helm-guestbook/values.yaml");
    // One app scales up, one gains an object, one leaves the fleet.
    to = await repo().commit({
      "helm-guestbook/values.yaml": chartValues.replace("replicaCount: 1", "replicaCount: 2"),
      "guestbook/guestbook-ui-config.yaml":
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guestbook-ui-config\ndata:\n  theme: dark\n",
      "apps/values.yaml": values.replace("  - name: sync-waves\n", ""),
    });
  });

  let document: DiffDocument;

  it("reports per cluster the apps and objects added, changed and removed, as JSON", async () => {
    const run = await diff("--from", from, "--to", to, "-o", "json");
    assert.equal(run.err, "");
    assert.equal(run.code, 0);
    document = JSON.parse(run.out) as DiffDocument;
    assert.deepEqual([document.from, document.to], [from, to]);
    assert.deepEqual(Object.keys(document.clusters), ["in-cluster"]);
    const apps = document.clusters["in-cluster"]?.apps ?? {};
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(apps).map(([name, app]) => [
          name,
          [app.change, app.objects.map((o) => `${o.change} ${o.kind}/${o.namespace}/${o.name}`)],
        ]),
      ),
      {
        "example.guestbook": ["changed", ["added ConfigMap/guestbook/guestbook-ui-config"]],
        "example.helm-guestbook": ["changed", ["changed Deployment/helm-guestbook/helm-guestbook"]],
        "example.sync-waves": [
          "removed",
          [
            "removed Job/sync-waves/maint-page-down",
            "removed Job/sync-waves/maint-page-up",
            "removed Job/sync-waves/upgrade-sql-schema",
            "removed ReplicaSet/sync-waves/backend",
            "removed ReplicaSet/sync-waves/frontend",
            "removed Service/sync-waves/backend",
            "removed Service/sync-waves/frontend",
          ],
        ],
      },
    );
    assert.deepEqual(
      document.problems.to.map((p) => p.app),
      ["example.plugin-kasane"],
    );
  });

  it("shows a changed object as a readable unified diff of its manifest", () => {
    const change = document.clusters["in-cluster"]?.apps["example.helm-guestbook"]?.objects[0];
    assert.match(change?.diff ?? "", /^@@ -\d+,\d+ \+\d+,\d+ @@\n/);
    assert.match(change?.diff ?? "", /^- {2}replicas: 1\n\+ {2}replicas: 2$/m);
    assert.equal(change?.diff?.split("\n").filter((l) => /^[-+]/.test(l)).length, 2);
  });

  it("prints the same changes as text", async () => {
    const run = await diff("--from", from, "--to", to);
    assert.equal(run.code, 0);
    const text = run.out;
    assert.match(
      text,
      new RegExp(`^diff ${from.slice(0, 12)}\\.\\.${to.slice(0, 12)}\\ncluster in-cluster\\n`),
    );
    assert.match(
      text,
      /^ {2}~ app example\.guestbook \(changed, 1 object\(s\)\)\n {4}\+ ConfigMap\/guestbook\/guestbook-ui-config$/m,
    );
    assert.match(
      text,
      /^ {2}~ app example\.helm-guestbook \(changed, 1 object\(s\)\)\n {4}~ Deployment\/helm-guestbook\/helm-guestbook\n {6}@@ [^\n]+\n/m,
    );
    assert.match(text, /^ {6}- {2}replicas: 1\n {6}\+ {2}replicas: 2$/m);
    assert.match(
      text,
      /^ {2}- app example\.sync-waves \(removed, 7 object\(s\)\)\n {4}- Job\/sync-waves\/maint-page-down$/m,
    );
    assert.match(text, /problems at the new revision:\n {2}example\.plugin-kasane: unsupported: /);
  });

  it("exits 1 with --exit-code when something changes", async () => {
    assert.equal((await diff("--from", from, "--to", to, "--exit-code")).code, 1);
  });

  it("exits 0 with --exit-code and says so when nothing changes", async () => {
    const run = await diff("--from", from, "--to", from, "--exit-code");
    assert.equal(run.code, 0);
    assert.match(run.out, /\nno changes\n/);
  });

  it("reports the reverse change as an added app and removed objects", async () => {
    const reverse = JSON.parse((await diff("--from", to, "--to", from, "-o", "json")).out) as DiffDocument;
    const apps = reverse.clusters["in-cluster"]?.apps ?? {};
    assert.equal(apps["example.sync-waves"]?.change, "added");
    assert.deepEqual(
      apps["example.guestbook"]?.objects.map((o) => o.change),
      ["removed"],
    );
  });

  it("refuses a missing --to with exit 2", async () => {
    const run = await diff("--from", "HEAD");
    assert.equal(run.code, 2);
    assert.match(run.err, /--from and --to are required/);
    assert.match(run.err, /Usage: flotilla diff/);
  });

  it("refuses -o table with exit 2", async () => {
    const run = await diff("--from", "HEAD", "--to", "HEAD", "-o", "table");
    assert.equal(run.code, 2);
    assert.match(run.err, /-o must be one of text, json/);
  });

  it("fails with the revision in the message when --from does not exist", async () => {
    await assert.rejects(diff("--from", "no-such-branch", "--to", to), /cannot read .* at no-such-branch/);
  });
});
