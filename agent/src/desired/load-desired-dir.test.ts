import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { loadDesiredDir, MAX_MANIFEST_FILE_BYTES } from "./load-desired-dir.js";

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh directory holding `files` (relative path -> content). */
async function makeDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-desired-dir-"));
  tempDirs.push(dir);
  for (const [relPath, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, relPath)), { recursive: true });
    await writeFile(join(dir, relPath), content);
  }
  return dir;
}

const configMap = (name: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  k: v\n`;

function namesOf(objects: { metadata: { name?: string } }[]): (string | undefined)[] {
  return objects.map((o) => o.metadata.name);
}

describe("loadDesiredDir", () => {
  it("loads each non-hidden subdirectory as an app with the standalone defaults", async () => {
    const dir = await makeDir({
      "web/a.yaml": configMap("a"),
      ".hidden/x.yaml": configMap("x"),
      "stray.yaml": configMap("stray"),
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(problems, []);
    assert.equal(apps.length, 1);
    const [web] = apps;
    assert.equal(web?.name, "web");
    assert.equal(web?.namespace, "default");
    assert.deepEqual(web?.syncPolicy, {
      automated: { prune: false, selfHeal: false, allowEmpty: false },
      syncOptions: [],
    });
    assert.deepEqual(web?.ignoreDifferences, []);
    assert.deepEqual(namesOf(web?.objects ?? []), ["a"]);
  });

  it("reads manifests recursively in lexical path order, skipping hidden entries and other files", async () => {
    const dir = await makeDir({
      "web/b.yml": configMap("b"),
      "web/a.json": JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" } }),
      "web/sub/c.yaml": configMap("c"),
      "web/sub/deeper/d.yaml": configMap("d"),
      "web/README.md": "not a manifest",
      "web/.git/e.yaml": configMap("e"),
      "web/sub/.f.yaml": configMap("f"),
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(problems, []);
    assert.deepEqual(namesOf(apps[0]?.objects ?? []), ["a", "b", "c", "d"]);
  });

  it("splits multi-document YAML, skips empty documents and expands Lists", async () => {
    const dir = await makeDir({
      "web/all.yaml": [
        "---",
        configMap("one"),
        "---\n# only a comment\n---",
        "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: two}\n  - apiVersion: v1\n    kind: Secret\n    metadata: {name: three}",
        "---\napiVersion: v1\nkind: ConfigMapList\nitems: null",
      ].join("\n"),
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(problems, []);
    assert.deepEqual(namesOf(apps[0]?.objects ?? []), ["one", "two", "three"]);
  });

  it("accepts generateName in place of a name", async () => {
    const dir = await makeDir({
      "jobs/job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n",
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(problems, []);
    assert.equal(apps[0]?.objects[0]?.metadata.generateName, "migrate-");
  });

  it("decodes YAML as kubectl does (YAML 1.1 booleans, merge keys)", async () => {
    const dir = await makeDir({
      "web/cm.yaml":
        "base: &base {k: v}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels:\n    <<: *base\nflag: yes\n",
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(problems, []);
    const [cm] = apps[0]?.objects ?? [];
    assert.equal(cm?.flag, true);
    assert.deepEqual(cm?.metadata.labels, { k: "v" });
  });

  it("reads namespace, syncPolicy and ignoreDifferences from app.yaml, which is not a manifest", async () => {
    const dir = await makeDir({
      "web/cm.yaml": configMap("cm"),
      "web/sub/app.yaml": configMap("nested-app-yaml-is-a-manifest"),
      "web/app.yaml": [
        "namespace: shop",
        "syncPolicy:",
        "  automated: {prune: true, selfHeal: true}",
        "  syncOptions: [CreateNamespace=true, ServerSideApply=true]",
        "  retry:",
        "    limit: 5",
        "    backoff: {duration: 10s, factor: 3, maxDuration: 1m30s}",
        "ignoreDifferences:",
        "  - group: apps",
        "    kind: Deployment",
        "    jsonPointers: [/spec/replicas]",
        "  - kind: ConfigMap",
        "    name: cm",
        "    jqPathExpressions: [.data.generated]",
        "    managedFieldsManagers: [kube-controller-manager]",
      ].join("\n"),
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(problems, []);
    const [web] = apps;
    assert.equal(web?.namespace, "shop");
    assert.deepEqual(namesOf(web?.objects ?? []), ["cm", "nested-app-yaml-is-a-manifest"]);
    assert.deepEqual(web?.syncPolicy, {
      automated: { prune: true, selfHeal: true, allowEmpty: false },
      syncOptions: ["CreateNamespace=true", "ServerSideApply=true"],
      retry: { limit: 5, backoffDurationMs: 10_000, backoffFactor: 3, backoffMaxDurationMs: 90_000 },
    });
    assert.deepEqual(web?.ignoreDifferences, [
      {
        group: "apps",
        kind: "Deployment",
        name: "",
        namespace: "",
        jsonPointers: ["/spec/replicas"],
        jqPathExpressions: [],
        managedFieldsManagers: [],
      },
      {
        group: "",
        kind: "ConfigMap",
        name: "cm",
        namespace: "",
        jsonPointers: [],
        jqPathExpressions: [".data.generated"],
        managedFieldsManagers: ["kube-controller-manager"],
      },
    ]);
  });

  it("fills Argo CD's retry backoff defaults", async () => {
    const dir = await makeDir({
      "web/app.yaml": "syncPolicy:\n  automated: {}\n  retry: {limit: -1}\n",
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(problems, []);
    assert.deepEqual(apps[0]?.syncPolicy.retry, {
      limit: -1,
      backoffDurationMs: 5_000,
      backoffFactor: 2,
      backoffMaxDurationMs: 180_000,
    });
  });

  it("makes an app manual when app.yaml has a syncPolicy without automated", async () => {
    const dir = await makeDir({
      "manual/app.yaml": "syncPolicy:\n  syncOptions: [Validate=false]\n",
      "empty-policy/app.yaml": "syncPolicy: {}\n",
      "null-policy/app.yaml": "syncPolicy:\n",
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      apps.map((a) => [a.name, a.syncPolicy.automated]),
      [
        ["empty-policy", undefined],
        ["manual", undefined],
        ["null-policy", undefined],
      ],
    );
    assert.deepEqual(apps.find((a) => a.name === "manual")?.syncPolicy.syncOptions, ["Validate=false"]);
  });

  it("loads an app directory without manifests as an app with no objects", async () => {
    const dir = await makeDir({ "empty/README.md": "nothing here" });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      apps.map((a) => [a.name, a.objects.length]),
      [["empty", 0]],
    );
  });

  it("reports a broken app by file and document and yields no app for it, leaving others intact", async () => {
    const dir = await makeDir({
      "good/cm.yaml": configMap("fine"),
      "broken/ok.yaml": configMap("ok"),
      "broken/bad.yaml": `${configMap("first")}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n`,
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(
      apps.map((a) => a.name),
      ["good"],
    );
    assert.deepEqual(problems, [
      { app: "broken", message: "bad.yaml document 2: object without metadata.name (or generateName)" },
    ]);
  });

  it("reports every defect of an app, each naming its cause", async () => {
    const dir = await makeDir({
      "broken/a.json": "{ not json",
      "broken/b.yaml": "kind: ConfigMap\nmetadata: {name: x}\n",
      "broken/c.yaml": "key: [unclosed\n",
      "broken/d.yaml": "- just\n- a list\n",
      "broken/e.yaml": "apiVersion: v1\nkind: List\nitems:\n  - kind: Secret\n",
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(apps, []);
    const messages = problems.map((p) => p.message);
    assert.equal(messages.length, 5);
    assert.match(messages[0] ?? "", /^a\.json: invalid JSON: /);
    assert.equal(messages[1], "b.yaml document 1: object without apiVersion");
    assert.match(messages[2] ?? "", /^c\.yaml document 1: invalid YAML: /);
    assert.equal(messages[3], "d.yaml document 1: not a mapping");
    assert.equal(
      messages[4],
      "e.yaml document 1 items[0]: object without apiVersion, metadata.name (or generateName)",
    );
  });

  it("rejects unknown or mistyped settings in app.yaml", async () => {
    const dir = await makeDir({
      "typo/app.yaml": "syncpolicy: {}\n",
      "nullauto/app.yaml": "syncPolicy:\n  automated:\n",
      "badretry/app.yaml": "syncPolicy:\n  retry: {limit: 2, backoff: {duration: soon}}\n",
      "nokind/app.yaml": "ignoreDifferences:\n  - group: apps\n",
    });
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(apps, []);
    assert.deepEqual(problems, [
      {
        app: "badretry",
        message:
          'app.yaml: syncPolicy.retry.backoff.duration: "soon" is not a duration such as "5s" or "1m30s"',
      },
      { app: "nokind", message: "app.yaml: ignoreDifferences[0].kind: is required" },
      {
        app: "nullauto",
        message:
          "app.yaml: syncPolicy.automated: is null; write `automated: {}` to automate the app, or remove it",
      },
      {
        app: "typo",
        message:
          "app.yaml: syncpolicy: unknown field (expected one of namespace, syncPolicy, ignoreDifferences)",
      },
    ]);
  });

  it("refuses a YAML alias bomb", async () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 8; i++) {
      const prev = String.fromCharCode(97 + i);
      const next = String.fromCharCode(98 + i);
      lines.push(`${next}: &${next} [${Array(10).fill(`*${prev}`).join(",")}]`);
    }
    const dir = await makeDir({ bomb: "" });
    await rm(join(dir, "bomb"));
    await mkdir(join(dir, "bomb"));
    await writeFile(join(dir, "bomb/lol.yaml"), `${lines.join("\n")}\n`);
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(apps, []);
    assert.deepEqual(problems, [
      { app: "bomb", message: "lol.yaml document 1: YAML aliases expand beyond 100 nodes (alias bomb)" },
    ]);
  });

  it("refuses a file over 16 MiB without reading it", async () => {
    const dir = await makeDir({ big: "" });
    await rm(join(dir, "big"));
    await mkdir(join(dir, "big"));
    await writeFile(join(dir, "big/huge.yaml"), "");
    await truncate(join(dir, "big/huge.yaml"), MAX_MANIFEST_FILE_BYTES + 1);
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(apps, []);
    assert.deepEqual(problems, [
      {
        app: "big",
        message: `huge.yaml: ${MAX_MANIFEST_FILE_BYTES + 1} bytes is over the ${MAX_MANIFEST_FILE_BYTES}-byte limit for one file`,
      },
    ]);
  });

  it("follows symbolic links, as in a mounted ConfigMap, without looping on a cycle", async () => {
    const dir = await makeDir({ "store/..data_1/cm.yaml": configMap("linked") });
    await mkdir(join(dir, "web"));
    await symlink(join(dir, "store/..data_1/cm.yaml"), join(dir, "web/cm.yaml"));
    await symlink(join(dir, "web"), join(dir, "web/loop"));
    const { apps, problems } = await loadDesiredDir(dir);
    assert.deepEqual(problems, []);
    assert.deepEqual(namesOf(apps.find((a) => a.name === "web")?.objects ?? []), ["linked"]);
  });

  it("derives revision from the files and digest from the whole desired app, both stable", async () => {
    const files = { "web/cm.yaml": configMap("cm"), "web/app.yaml": "namespace: shop\n" };
    const [first] = (await loadDesiredDir(await makeDir(files))).apps;
    const [again] = (await loadDesiredDir(await makeDir(files))).apps;
    assert.match(first?.revision ?? "", /^dir:[0-9a-f]{12}$/);
    assert.match(first?.digest ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.equal(again?.revision, first?.revision);
    assert.equal(again?.digest, first?.digest);

    const [otherSettings] = (
      await loadDesiredDir(await makeDir({ ...files, "web/app.yaml": "namespace: other\n" }))
    ).apps;
    assert.notEqual(otherSettings?.revision, first?.revision);
    assert.notEqual(otherSettings?.digest, first?.digest);

    // The digest covers the revision too, as the hub's does: new bytes are a new desired state.
    const [reformatted] = (
      await loadDesiredDir(
        await makeDir({ ...files, "web/cm.yaml": `# comment\n${configMap("cm").replace("k: v", "k:   v")}` }),
      )
    ).apps;
    assert.notEqual(reformatted?.revision, first?.revision);
    assert.notEqual(reformatted?.digest, first?.digest);
  });
});
