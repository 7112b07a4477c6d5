import assert from "node:assert/strict";
import { chmod, cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { subject } from "./kube-object.js";
import { createRenderCache, needsCommitKey, needsRootKey, renderSourceCached } from "./render-cache.js";
import { createRenderTools, type RenderInput, type RenderTools } from "./render-source.js";
import type { ApplicationSource } from "./source-spec.js";

const EXAMPLE_APPS = fileURLToPath(new URL("./testdata/example-apps", import.meta.url));
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

describe("renderSourceCached", () => {
  let root = "";
  let tools: RenderTools;
  before(async () => {
    const kustomizePath = process.env.FLOTILLA_KUSTOMIZE;
    const helmPath = process.env.FLOTILLA_HELM;
    if (!kustomizePath || !helmPath)
      throw new Error("FLOTILLA_KUSTOMIZE and FLOTILLA_HELM must name the test binaries");
    root = await mkdtemp(join(tmpdir(), "flotilla-render-cache-"));
    tools = createRenderTools({ kustomizePath, helmPath, workDir: join(root, "work") });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function copyOfExampleApps(): Promise<string> {
    const dir = await mkdtemp(join(root, "repo-"));
    await cp(EXAMPLE_APPS, dir, { recursive: true, verbatimSymlinks: true });
    return dir;
  }
  const inputAt = (dir: string, path: string, extra: Partial<ApplicationSource> = {}): RenderInput => ({
    appName: "echo",
    destinationNamespace: "apps",
    source: { repoURL: "https://git.example.com/example-apps.git", path, ...extra },
    checkout: { dir, commit: COMMIT, unsafeLinks: [], oversized: [] },
  });

  it("renders an unchanged app once: the second call does not need the checkout", async () => {
    const cache = createRenderCache({ maxEntries: 10 });
    const repo = await copyOfExampleApps();
    const first = await renderSourceCached(
      inputAt(repo, "kustomize-guestbook"),
      tools,
      cache,
      "repo@tree1#opts",
    );
    await rm(repo, { recursive: true, force: true });
    const started = performance.now();
    const second = await renderSourceCached(
      inputAt(repo, "kustomize-guestbook"),
      tools,
      cache,
      "repo@tree1#opts",
    );
    assert.ok(performance.now() - started < 50);
    assert.equal(second, first);
    assert.ok(second.ok);
    assert.deepEqual(second.objects.map(subject), [
      "Service/kustomize-guestbook-ui",
      "Deployment/kustomize-guestbook-ui",
    ]);
    assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 1, misses: 1 });
  });

  it("shares one render between concurrent callers of a key", async () => {
    const cache = createRenderCache({ maxEntries: 10 });
    const input = inputAt(EXAMPLE_APPS, "helm-guestbook");
    const [a, b] = await Promise.all([
      renderSourceCached(input, tools, cache, "k"),
      renderSourceCached(input, tools, cache, "k"),
    ]);
    assert.equal(a, b);
    assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 1, misses: 1 });
  });

  it("keeps problems, since the same input fails the same way", async () => {
    const cache = createRenderCache({ maxEntries: 10 });
    const input = inputAt(EXAMPLE_APPS, "invalid-object");
    const first = await renderSourceCached(input, tools, cache, "bad");
    assert.equal(first.ok, false);
    await renderSourceCached(input, tools, cache, "bad");
    assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 1, misses: 1 });
  });

  it("does not keep a timeout, which may pass next time", async () => {
    const cache = createRenderCache({ maxEntries: 10 });
    const hang = join(root, "hang.sh");
    await writeFile(hang, "#!/bin/sh\nexec sleep 300\n");
    await chmod(hang, 0o755);
    const slow = { ...tools, helmPath: hang, timeoutMs: 200 };
    const input = inputAt(EXAMPLE_APPS, "helm-guestbook");
    const first = await renderSourceCached(input, slow, cache, "slow");
    assert.equal(!first.ok && first.problem.kind, "limit");
    assert.equal(cache.entries.has("slow"), false);
    const second = await renderSourceCached(input, tools, cache, "slow");
    assert.ok(second.ok);
  });

  it("evicts the least recently used entry", async () => {
    const cache = createRenderCache({ maxEntries: 2 });
    const input = inputAt(EXAMPLE_APPS, "guestbook");
    await renderSourceCached(input, tools, cache, "a");
    await renderSourceCached(input, tools, cache, "b");
    await renderSourceCached(input, tools, cache, "a");
    await renderSourceCached(input, tools, cache, "c");
    assert.deepEqual([...cache.entries.keys()], ["a", "c"]);
  });

  it("hands out frozen objects, so no caller can change another's copy", async () => {
    const cache = createRenderCache({ maxEntries: 2 });
    const outcome = await renderSourceCached(inputAt(EXAMPLE_APPS, "guestbook"), tools, cache, "g");
    assert.ok(outcome.ok);
    const [deployment] = outcome.objects;
    assert.throws(() => {
      (deployment as { metadata: { name: string } }).metadata.name = "changed";
    }, TypeError);
  });
});

describe("needsRootKey", () => {
  let repo = "";
  before(async () => {
    repo = await mkdtemp(join(tmpdir(), "flotilla-root-key-"));
    await cp(EXAMPLE_APPS, repo, { recursive: true, verbatimSymlinks: true });
    await mkdir(join(repo, "linked"));
    await symlink("../guestbook/guestbook-ui-svc.yaml", join(repo, "linked", "svc.yaml"));
  });
  after(async () => {
    await rm(repo, { recursive: true, force: true });
  });
  const inputAt = (path: string, extra: Partial<ApplicationSource> = {}): RenderInput => ({
    appName: "echo",
    destinationNamespace: "apps",
    source: { repoURL: "https://git.example.com/example-apps.git", path, ...extra },
    checkout: { dir: repo, commit: COMMIT, unsafeLinks: [], oversized: [] },
  });

  it("is false for apps self-contained in their path", async () => {
    assert.equal(await needsRootKey(inputAt("guestbook")), false);
    assert.equal(await needsRootKey(inputAt("kustomize-guestbook")), false);
    assert.equal(
      await needsRootKey(inputAt("helm-params", { helm: { valueFiles: ["values/prod.yaml"] } })),
      false,
    );
  });

  it("is true for a kustomization that climbs to a base", async () => {
    assert.equal(await needsRootKey(inputAt("kustomize-overlays/overlays/staging")), true);
  });

  it("is true for climbing, absolute or $ref valueFiles and climbing components", async () => {
    assert.equal(
      await needsRootKey(inputAt("helm-params", { helm: { valueFiles: ["../shared-values/team.yaml"] } })),
      true,
    );
    assert.equal(
      await needsRootKey(inputAt("helm-params", { helm: { valueFiles: ["/shared-values/team.yaml"] } })),
      true,
    );
    assert.equal(
      await needsRootKey(inputAt("helm-params", { helm: { valueFiles: ["$values/envs/prod.yaml"] } })),
      true,
    );
    const kustomize = { components: ["../../components/monitoring"] };
    assert.equal(await needsRootKey(inputAt("kustomize-guestbook", { kustomize })), true);
  });

  it("is true for a symlink pointing outside the path", async () => {
    assert.equal(await needsRootKey(inputAt("linked")), true);
  });

  it("needsCommitKey: is true only when options name $ARGOCD_APP_REVISION", () => {
    const images = ["app=registry.local/app:$ARGOCD_APP_REVISION_SHORT"];
    assert.equal(needsCommitKey(inputAt("kustomize-guestbook", { kustomize: { images } })), true);
    assert.equal(needsCommitKey(inputAt("kustomize-guestbook", { kustomize: { namePrefix: "x-" } })), false);
  });
});
