// Fuzz tests of the agent's state stores: a state file with random bytes, random JSON (gzipped or
// not) or a state of the right shape with wrong types in every field, and state Secrets with
// random data. load() must return a state that saves and loads back unchanged, keeping every app,
// or reject with an Error naming the file or Secret. fast-check prints the seed of a failing run.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import fc from "fast-check";
import type { KubeClient, ResourceInfo } from "../kube/kube-client.js";
import type { KubeObject } from "../kube/kube-object.js";
import { createFileStateStore, createSecretStateStore, STATE_LABEL } from "./state-store.js";

/** Messages of JavaScript's own TypeErrors and RangeErrors: a crash, not a clear error. */
const INTERNAL_ERROR =
  /is not a function|Cannot read propert|Cannot set propert|is not iterable|Cannot convert|Maximum call stack/;

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }),
);

function mostly<T>(right: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: right, weight: 8 }, { arbitrary: wrongValue, weight: 1 });
}

const APP_NAMES = ["web", "db", "__proto__", "constructor", "toString", "", "a/b", "ü"];

function appRecord(name: string): fc.Arbitrary<unknown> {
  return fc.record(
    {
      desired: mostly(
        fc.record(
          {
            name: mostly(fc.constant(name)),
            namespace: mostly(fc.constant("web")),
            revision: mostly(fc.string({ maxLength: 8 })),
            digest: mostly(fc.constant("sha256:x")),
            syncPolicy: mostly(fc.record({ syncOptions: mostly(fc.constant([])) })),
            ignoreDifferences: mostly(fc.constant([])),
            objects: mostly(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 2 })),
          },
          { requiredKeys: ["name", "objects"] },
        ),
      ),
      syncedDigest: fc.oneof(fc.constant(undefined), mostly(fc.constant("sha256:x"))),
      inventory: mostly(
        fc.array(
          mostly(
            fc.record({
              apiVersion: mostly(fc.constant("v1")),
              key: mostly(fc.constant({ kind: "ConfigMap", name: "x" })),
            }),
          ),
          {
            maxLength: 2,
          },
        ),
      ),
      seq: fc.oneof(fc.constant(undefined), mostly(fc.nat())),
      bundleDigest: fc.oneof(fc.constant(undefined), mostly(fc.constant("sha256:b"))),
    },
    { requiredKeys: ["desired", "inventory"] },
  );
}

const identity = fc.record(
  {
    clusterName: mostly(fc.constant("edge-1")),
    hubUrl: mostly(fc.constant("https://hub.example.com")),
    credential: mostly(fc.constant("cred-1")),
    caHash: mostly(fc.constant("sha256:ca")),
    lastAppliedSeq: fc.oneof(fc.constant(undefined), mostly(fc.nat())),
  },
  { requiredKeys: ["clusterName", "hubUrl", "credential", "caHash"] },
);

/** A state of about the right shape, as JSON text: apps named by their keys, wrong types here and there. */
const stateJson = fc
  .record({
    identity: fc.oneof(fc.constant(undefined), mostly(identity)),
    apps: mostly(
      fc
        .uniqueArray(fc.constantFrom(...APP_NAMES), { maxLength: 3 })
        .chain((names) =>
          fc.tuple(...names.map((name) => appRecord(name).map((record) => [name, record] as const))),
        ),
    ),
  })
  .map(({ identity: id, apps }) => {
    // Object.fromEntries would turn "__proto__" into the prototype; JSON must carry it as a key.
    const entries = Array.isArray(apps)
      ? apps.map(([name, record]) => `${JSON.stringify(name)}:${JSON.stringify(record)}`)
      : undefined;
    const appsText = entries ? `{${entries.join(",")}}` : JSON.stringify(apps);
    return `{${id === undefined ? "" : `"identity":${JSON.stringify(id)},`}"apps":${appsText}}`;
  });

const fileContent = fc
  .record({
    text: fc.oneof(
      { arbitrary: stateJson, weight: 4 },
      fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
      fc.string({ maxLength: 40 }),
    ),
    gzip: fc.boolean(),
    bytes: fc.oneof({ arbitrary: fc.constant(undefined), weight: 6 }, fc.uint8Array({ maxLength: 100 })),
  })
  .map(({ text, gzip, bytes }) => (bytes ? Buffer.from(bytes) : gzip ? gzipSync(text) : Buffer.from(text)));

describe("reliability: fuzz", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-state-fuzz-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("random state files load as a state that saves and loads back with every app, or are refused naming the file", async (t) => {
    const counts = { loaded: 0, refused: 0, apps: 0 };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fileContent, async (content) => {
        run += 1;
        const path = join(dir, `state-${run}.json.gz`);
        await writeFile(path, content);
        let state: Awaited<ReturnType<ReturnType<typeof createFileStateStore>["load"]>>;
        try {
          state = await createFileStateStore(path).load();
        } catch (error) {
          assert.ok(error instanceof Error);
          assert.ok(error.message.startsWith(`${path}: corrupt agent state: `), error.message);
          assert.doesNotMatch(error.message, INTERNAL_ERROR);
          counts.refused += 1;
          return;
        }
        counts.loaded += 1;
        // Every app of the file is in the state, under its own name.
        const text = content[0] === 0x1f && content[1] === 0x8b ? gunzipSync(content) : content;
        const written = JSON.parse(text.toString("utf8")) as { apps: object };
        const names = Object.keys(state.apps);
        counts.apps += names.length;
        assert.deepEqual(names.sort(), Object.keys(written.apps).sort(), "an app was lost on load");
        for (const name of names) assert.equal(state.apps[name]?.desired.name, name);
        const copy = join(dir, `copy-${run}.json.gz`);
        await createFileStateStore(copy).save(state);
        assert.deepEqual(await createFileStateStore(copy).load(), state);
      }),
      { numRuns: 400 },
    );
    t.diagnostic(
      `${counts.loaded + counts.refused} random state files: ${counts.loaded} loaded (${counts.apps} apps, each saved and loaded back unchanged), ${counts.refused} refused naming the file`,
    );
  });

  it("random state Secrets load or are refused naming the Secret", async (t) => {
    const counts = { loaded: 0, refused: 0 };
    const secret = fc
      .record({
        name: fc.constantFrom(
          "flotilla-agent-identity",
          "flotilla-agent-app-0123456789abcdef",
          "flotilla-agent-app-x",
        ),
        data: fc.oneof(
          fc.record({
            "state.json.gz": fc
              .oneof(
                stateJson,
                fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
              )
              .map((text) => gzipSync(text).toString("base64")),
          }),
          fc.record({ "state.json.gz": fc.oneof(fc.string({ maxLength: 20 }), fc.integer()) }),
          wrongValue,
        ),
      })
      .map(
        ({ name, data }): KubeObject => ({
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name, namespace: "flotilla-system", labels: { [STATE_LABEL]: "true" } },
          data,
        }),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(secret, { maxLength: 3, selector: (s) => s.metadata.name }),
        async (secrets) => {
          try {
            await createSecretStateStore(listOnlyKube(secrets), "flotilla-system").load();
            counts.loaded += 1;
          } catch (error) {
            assert.ok(error instanceof Error);
            assert.match(
              error.message,
              /^Secret\/flotilla-system\/flotilla-agent-[a-z0-9-]+: corrupt agent state: /,
            );
            assert.doesNotMatch(error.message, INTERNAL_ERROR);
            counts.refused += 1;
          }
        },
      ),
      { numRuns: 400 },
    );
    t.diagnostic(
      `${counts.loaded + counts.refused} random sets of state Secrets: ${counts.loaded} loaded, ${counts.refused} refused naming the Secret`,
    );
  });
});

/** A KubeClient that lists `secrets` and nothing else. */
function listOnlyKube(secrets: KubeObject[]): KubeClient {
  const resource: ResourceInfo = {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    namespaced: true,
  };
  const unsupported = () => {
    throw new Error("not used by load()");
  };
  return {
    server: "fake",
    resourceFor: async () => resource,
    invalidateDiscovery() {},
    get: unsupported,
    list: async () => ({ items: structuredClone(secrets), resourceVersion: "1" }),
    apply: unsupported,
    create: unsupported,
    replace: unsupported,
    delete: unsupported,
    watch: unsupported,
    requestCounts: () => ({ get: 0, list: 0, watch: 0, writes: 0, dryRuns: 0 }),
  };
}
