// Fuzz tests of loading a directory of apps from disk: random app directories with random
// manifests (YAML-ish text, printed objects with wrong types, JSON, deep nesting, alias bombs,
// collection keys) and random app.yaml settings. loadDesiredDir must resolve within a bounded
// time with usable apps and a problem, naming the app and file, for every defect. fast-check
// prints the seed of a failing run.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { loadDesiredDir, MAX_YAML_DEPTH } from "./load-desired-dir.js";

/** One load may take this long on a slow, shared machine before it counts as a hang. */
const MAX_LOAD_MS = 10_000;
/** Messages of JavaScript's own TypeErrors and RangeErrors: a crash, not a clear problem. */
const INTERNAL_ERROR =
  /is not a function|Cannot read propert|Cannot set propert|is not iterable|Cannot convert|Maximum call stack|Invalid array length/;

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom("", "__proto__", "5s", "1m30s", "x"),
  fc.integer({ min: -5, max: 100 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }),
);

function mostly<T>(right: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: right, weight: 12 }, { arbitrary: wrongValue, weight: 1 });
}

const YAML_PIECES = [
  "a",
  "b: ",
  ": ",
  " ",
  "\n",
  "- ",
  "? ",
  "&a ",
  "*a",
  "[",
  "]",
  "{",
  "}",
  ", ",
  "'",
  '"',
  "---\n",
  "!!binary ",
  "<<: *a",
  "|\n  ",
  "yes",
  "~",
  "\u0000",
  "kind: List\nitems: 3\n",
  "apiVersion: v1\n",
];

/** A manifest that loads, so that apps with objects are checked too. */
const validManifest = fc
  .record({
    apiVersion: fc.constantFrom("v1", "apps/v1"),
    kind: fc.constantFrom("ConfigMap", "Secret"),
    metadata: fc.record({ name: fc.constantFrom("x", "y", "z"), namespace: fc.constantFrom("web", "db") }),
    data: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  })
  .map((value) => ({ yaml: stringify(value), json: JSON.stringify(value) }));

const manifestText = fc.oneof(
  { arbitrary: validManifest.map((manifest) => manifest.yaml), weight: 20 },
  {
    arbitrary: fc
      .record(
        {
          apiVersion: mostly(fc.constantFrom("v1", "apps/v1")),
          kind: mostly(fc.constantFrom("ConfigMap", "Deployment", "ConfigMapList")),
          metadata: mostly(
            fc.record(
              { name: mostly(fc.constantFrom("x", "y")), namespace: mostly(fc.constant("web")) },
              { requiredKeys: ["name"] },
            ),
          ),
          items: fc.oneof(
            fc.constant(undefined),
            mostly(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 2 })),
          ),
        },
        { requiredKeys: ["apiVersion", "kind", "metadata"] },
      )
      .map((value) => stringify(value)),
    weight: 15,
  },
  fc.array(fc.constantFrom(...YAML_PIECES), { maxLength: 40 }).map((pieces) => pieces.join("")),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc.integer({ min: 1, max: 1_000 }).map((depth) => `${"[".repeat(depth)}${"]".repeat(depth)}`),
  fc.integer({ min: 1, max: 400 }).map((depth) => `${"? ".repeat(depth)}x`),
  fc.constantFrom(
    "a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
    "a: &a [1]\n*a : 2\n",
  ),
);

const settingsText = fc.oneof(
  {
    arbitrary: fc.constantFrom("namespace: web\n", "syncPolicy: {}\n", "", "syncPolicy:\n  automated: {}\n"),
    weight: 3,
  },
  fc
    .record(
      {
        namespace: mostly(fc.constantFrom("web", "")),
        syncPolicy: mostly(
          fc.record(
            {
              automated: mostly(
                fc.record(
                  { prune: mostly(fc.boolean()), selfHeal: mostly(fc.boolean()) },
                  { requiredKeys: [] },
                ),
              ),
              syncOptions: mostly(fc.array(fc.constant("CreateNamespace=true"), { maxLength: 2 })),
              retry: mostly(
                fc.record(
                  {
                    limit: mostly(fc.integer({ min: -1, max: 5 })),
                    backoff: mostly(
                      fc.record(
                        {
                          duration: mostly(fc.constantFrom("5s", "1m30s", "250ms", ".5h")),
                          factor: mostly(fc.integer({ min: 0, max: 3 })),
                          maxDuration: wrongValue,
                        },
                        { requiredKeys: [] },
                      ),
                    ),
                  },
                  { requiredKeys: [] },
                ),
              ),
            },
            { requiredKeys: [] },
          ),
        ),
        ignoreDifferences: mostly(
          fc.array(
            fc.record(
              {
                kind: mostly(fc.constant("Deployment")),
                jsonPointers: mostly(fc.constant(["/spec/replicas"])),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 2 },
          ),
        ),
        bogus: fc.constantFrom(undefined, undefined, undefined, 1),
      },
      { requiredKeys: [] },
    )
    .map((value) => stringify(value)),
  manifestText,
);

const FILE_NAMES = ["a.yaml", "b.yml", "c.json", "sub/d.yaml", "notes.txt", ".hidden.yaml", "UPPER.YAML"];
const APP_NAMES = ["web", "db", "__proto__", "constructor", ".hidden", "with space"];

const tree = fc.uniqueArray(
  fc.record({
    app: fc.constantFrom(...APP_NAMES),
    files: fc.uniqueArray(
      fc.record({
        name: fc.constantFrom(...FILE_NAMES),
        text: manifestText,
        json: fc.oneof(
          { arbitrary: validManifest.map((manifest) => manifest.json), weight: 4 },
          manifestText,
        ),
      }),
      {
        maxLength: 3,
        selector: (f) => f.name,
      },
    ),
    settings: fc.option(settingsText, { nil: undefined }),
  }),
  { maxLength: 3, selector: (entry) => entry.app },
);

describe("reliability: fuzz", () => {
  let root = "";
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "flotilla-desired-dir-fuzz-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it(`random app directories load as usable apps or problems naming the app and file, YAML deeper than ${MAX_YAML_DEPTH} levels included`, async (t) => {
    const counts = { dirs: 0, apps: 0, objects: 0, problems: 0, slowestMs: 0 };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(tree, async (apps) => {
        run += 1;
        const dir = join(root, `run-${run}`);
        await mkdir(dir, { recursive: true });
        for (const entry of apps) {
          await mkdir(join(dir, entry.app), { recursive: true });
          for (const file of entry.files) {
            await mkdir(dirname(join(dir, entry.app, file.name)), { recursive: true });
            await writeFile(
              join(dir, entry.app, file.name),
              file.name.endsWith(".json") ? file.json : file.text,
            );
          }
          if (entry.settings !== undefined) await writeFile(join(dir, entry.app, "app.yaml"), entry.settings);
        }
        const started = performance.now();
        const loaded = await loadDesiredDir(dir);
        const ms = performance.now() - started;
        counts.slowestMs = Math.max(counts.slowestMs, ms);
        assert.ok(ms < MAX_LOAD_MS, `load took ${Math.round(ms)} ms`);
        await rm(dir, { recursive: true, force: true });
        counts.dirs += 1;
        counts.apps += loaded.apps.length;
        counts.problems += loaded.problems.length;
        const visible = apps.map((entry) => entry.app).filter((name) => !name.startsWith("."));
        for (const problem of loaded.problems) {
          assert.ok(visible.includes(problem.app), `problem for unknown app ${problem.app}`);
          assert.notEqual(problem.message, "");
          assert.doesNotMatch(problem.message, INTERNAL_ERROR, problem.message);
        }
        for (const app of loaded.apps) {
          assert.ok(visible.includes(app.name));
          assert.notEqual(app.name, "__proto__", "an app the agent's state could not hold");
          assert.ok(
            !loaded.problems.some((problem) => problem.app === app.name),
            `${app.name} has problems and was loaded`,
          );
          assert.match(app.digest, /^sha256:[0-9a-f]{64}$/);
          for (const obj of app.objects) {
            counts.objects += 1;
            assert.equal(typeof obj.apiVersion, "string");
            assert.equal(typeof obj.kind, "string");
            assert.ok(typeof obj.metadata.name === "string" || typeof obj.metadata.generateName === "string");
          }
        }
      }),
      { numRuns: 250, timeout: MAX_LOAD_MS },
    );
    t.diagnostic(
      `${counts.dirs} random directories: ${counts.apps} apps loaded (${counts.objects} objects), ${counts.problems} problems naming app and file; 0 crashes; slowest ${Math.round(counts.slowestMs)} ms`,
    );
  });
});
