import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isLinkInBounds, stageWorkTree } from "./stage-work-tree.js";

describe("stageWorkTree", () => {
  let root = "";
  let repo = "";
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "flotilla-stage-"));
    repo = join(root, "repo");
    const files: Record<string, string> = {
      "app/kustomization.yaml": "resources: [cm.yaml]\n",
      "app/cm.yaml": "kind: ConfigMap\n",
      "app/sub/deep.yaml": "deep\n",
      "lib/shared.yaml": "shared\n",
      "lib/nested/more.yaml": "more\n",
      "unrelated/secret.yaml": "not needed\n",
      "real/y/file.yaml": "through a linked parent\n",
      ".git/config": "git\n",
      "shared/base-kustomization.yaml": "resources: []\n",
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(repo, path)), { recursive: true });
      await writeFile(join(repo, path), text);
    }
    await symlink("../lib", join(repo, "app", "lib"));
    await symlink("/etc/hostname", join(repo, "app", "absolute.yaml"));
    await symlink("../../../outside", join(repo, "app", "climbing.yaml"));
    await symlink("real", join(repo, "x"));
    await mkdir(join(repo, "linked-app"));
    await symlink("../shared/base-kustomization.yaml", join(repo, "linked-app", "kustomization.yaml"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("copies the roots and the in-bounds targets of their links, and nothing else", async () => {
    const dest = join(root, "stage-1");
    const staged = await stageWorkTree(repo, dest, ["app"], 1000);
    assert.deepEqual(staged.droppedLinks.sort(), ["app/absolute.yaml", "app/climbing.yaml"]);
    assert.equal(await readFile(join(dest, "app", "lib", "nested", "more.yaml"), "utf8"), "more\n");
    assert.equal(await readlink(join(dest, "app", "lib")), "../lib");
    assert.equal(await readFile(join(dest, "app", "sub", "deep.yaml"), "utf8"), "deep\n");
    await assert.rejects(lstat(join(dest, "unrelated")));
    await assert.rejects(lstat(join(dest, "app", "absolute.yaml")));
  });

  it("hard-links files but copies kustomization files, which kustomize edit rewrites", async () => {
    const dest = join(root, "stage-2");
    await stageWorkTree(repo, dest, ["app"], 1000);
    assert.equal(
      (await stat(join(dest, "app", "cm.yaml"))).ino,
      (await stat(join(repo, "app", "cm.yaml"))).ino,
    );
    assert.notEqual(
      (await stat(join(dest, "app", "kustomization.yaml"))).ino,
      (await stat(join(repo, "app", "kustomization.yaml"))).ino,
    );
  });

  it("stages a linked kustomization as a real copy, so kustomize edit cannot write through it", async () => {
    const dest = join(root, "stage-5");
    await stageWorkTree(repo, dest, ["linked-app"], 1000);
    const staged = join(dest, "linked-app", "kustomization.yaml");
    assert.ok((await lstat(staged)).isFile());
    assert.notEqual(
      (await stat(staged)).ino,
      (await stat(join(repo, "shared", "base-kustomization.yaml"))).ino,
    );
    assert.equal(await readFile(staged, "utf8"), "resources: []\n");
  });

  it("follows linked parents of a root and skips .git", async () => {
    const dest = join(root, "stage-3");
    await stageWorkTree(repo, dest, ["x/y", ""], 1000);
    assert.equal(await readFile(join(dest, "x", "y", "file.yaml"), "utf8"), "through a linked parent\n");
    assert.equal(await readlink(join(dest, "x")), "real");
    await assert.rejects(lstat(join(dest, ".git")));
  });

  it("stops at maxEntries with a limit problem", async () => {
    await assert.rejects(stageWorkTree(repo, join(root, "stage-4"), [""], 3), { kind: "limit" });
  });

  it("applies Argo CD's out-of-bounds rule to link targets", () => {
    assert.ok(isLinkInBounds("a/b", "../c"));
    assert.ok(isLinkInBounds("a/b", "c/../d"));
    assert.ok(!isLinkInBounds("a/b", "../../c"));
    assert.ok(!isLinkInBounds("a", "/etc/passwd"));
    assert.ok(!isLinkInBounds("a/b", "../../a/b"), "a step leaves the root even if the end is inside");
  });
});
