import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { generateDrizzleJson, generateMigration } from "drizzle-kit/api";
import { openStore } from "./open-store.js";
import * as schema from "./schema.js";
import { describeStoreContract } from "./store-contract.js";

const root = await mkdtemp(join(tmpdir(), "flotilla-store-"));
after(() => rm(root, { recursive: true, force: true }));

let template: Promise<string> | undefined;
let databases = 0;

/** A migrated PGlite data dir made once; each suite copies it, as initdb costs seconds. */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const dataDir = join(root, "template");
    await (await openStore({ kind: "pglite", dataDir })).close();
    return dataDir;
  })();
  return template;
}

describeStoreContract("pglite", async () => {
  const dataDir = join(root, `db-${++databases}`);
  await cp(await migratedTemplate(), dataDir, { recursive: true });
  return (options) => openStore({ kind: "pglite", dataDir, ...options });
});

describe("openStore (pglite)", () => {
  it("creates the data dir and migrates an empty one", async () => {
    const store = await openStore({ kind: "pglite", dataDir: join(root, "fresh", "nested") });
    try {
      assert.deepEqual(await store.clusters.list(), []);
    } finally {
      await store.close();
    }
  });

  it("answers a ping while open and not once closed", async () => {
    const dataDir = join(root, "ping");
    await cp(await migratedTemplate(), dataDir, { recursive: true });
    const store = await openStore({ kind: "pglite", dataDir });
    assert.equal(await store.ping(), true);
    await store.close();
    assert.equal(await store.ping(), false);
  });

  it("has a migration for every change to the schema", async () => {
    const journal = JSON.parse(
      await readFile(new URL("../../drizzle/meta/_journal.json", import.meta.url), "utf8"),
    );
    const last = journal.entries.at(-1);
    const snapshotUrl = new URL(
      `../../drizzle/meta/${String(last.idx).padStart(4, "0")}_snapshot.json`,
      import.meta.url,
    );
    const snapshot = JSON.parse(await readFile(snapshotUrl, "utf8"));
    const statements = await generateMigration(snapshot, generateDrizzleJson(schema));
    assert.deepEqual(statements, [], "run `npx drizzle-kit generate` in hub/ and commit hub/drizzle/");
  });
});
