import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createRepoFs } from "./create-repo-fs.js";

describe("createRepoFs", () => {
  let gitdir: string;
  const object = (oid: string) => join(gitdir, "objects", oid.slice(0, 2), oid.slice(2));

  before(async () => {
    gitdir = await mkdtemp(join(tmpdir(), "flotilla-repo-fs-"));
    await mkdir(join(gitdir, "objects", "ab"), { recursive: true });
    await mkdir(join(gitdir, "tmp"));
  });
  after(async () => {
    await rm(gitdir, { recursive: true, force: true });
  });

  it("remembers object folder listings until forget()", async () => {
    const { fs, forget } = createRepoFs(gitdir, { cacheListings: true });
    const first = `ab${"1".repeat(38)}`;
    const second = `ab${"2".repeat(38)}`;
    await writeFile(object(first), "one");
    assert.equal(String(await fs.promises.readFile(object(first))), "one");
    await writeFile(object(second), "two");
    await assert.rejects(fs.promises.readFile(object(second)), { code: "ENOENT" });
    forget();
    assert.equal(String(await fs.promises.readFile(object(second))), "two");
  });

  it("answers isomorphic-git's bare readFile() probe with a promise, not an error", async () => {
    const { fs } = createRepoFs(gitdir, { cacheListings: false });
    assert.equal(await fs.promises.readFile(), undefined);
  });

  it("writes through a temporary file and forgets what it listed", async () => {
    const { fs } = createRepoFs(gitdir, { cacheListings: true, tmpDir: join(gitdir, "tmp") });
    const third = `ab${"3".repeat(38)}`;
    await fs.promises.readdir(join(gitdir, "objects", "ab"));
    await fs.promises.writeFile(object(third), "three");
    assert.equal(String(await fs.promises.readFile(object(third))), "three");
    assert.equal(await readFile(object(third), "utf8"), "three");
    assert.deepEqual(await readdir(join(gitdir, "tmp")), []);
  });
});
