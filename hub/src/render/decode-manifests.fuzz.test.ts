// Fuzz tests of manifest decoding (readYamlDocuments, decodeToolOutput, toKubeObjects): random
// YAML-ish text, random JSON values printed as YAML, objects with wrong types in every field,
// deep nesting and alias bombs. Each call must return, or throw a RenderProblemError whose message
// names the stream, within a bounded time. fast-check prints the seed of a failing run.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import {
  type DecodedValue,
  decodeToolOutput,
  MAX_YAML_DEPTH,
  readYamlDocuments,
  toKubeObjects,
} from "./decode-manifests.js";
import { RenderProblemError } from "./render-problem.js";

/** A call on fuzzed input may take this long on a slow, shared machine before it counts as a hang. */
const MAX_CASE_MS = 5_000;
/** Messages of JavaScript's own TypeErrors and RangeErrors: a crash, not a clear problem. */
const INTERNAL_ERROR =
  /is not a function|Cannot read propert|Cannot set propert|is not iterable|Cannot convert|Maximum call stack|Invalid time value|Invalid array length/;

const YAML_PIECES = [
  "a",
  "b: ",
  "key: value",
  ":",
  " ",
  "  ",
  "\n",
  "\r\n",
  "\t",
  "- ",
  "? ",
  "&a ",
  "&b ",
  "*a",
  "*b",
  "[",
  "]",
  "{",
  "}",
  ", ",
  "'",
  '"',
  "# comment",
  "---\n",
  "...\n",
  "!!str ",
  "!!binary ",
  "!!set ",
  "!!omap ",
  "!!map ",
  "!!seq ",
  "!!int ",
  "!!float ",
  "!!timestamp ",
  "!custom ",
  "<<: ",
  "<<: *a",
  "|\n  ",
  "|-\n  ",
  ">\n  ",
  "%YAML 1.1\n",
  "%TAG ! tag:x,2000:\n",
  "0777",
  "0x1F",
  "1e999",
  ".nan",
  ".inf",
  "-.inf",
  ".",
  "yes",
  "on",
  "~",
  "null",
  "12:30",
  "2024-01-31",
  "\\",
  "\\x00",
  "\u0000",
  "\uFEFF",
  "\uD800",
  "🚀",
  "apiVersion: v1\n",
  "kind: ConfigMap\n",
  "metadata:\n  name: x\n",
  "items:\n",
  "items: null\n",
  "# Source: chart/templates/a.yaml\n",
];

/** Text stitched from YAML syntax: mostly malformed, sometimes a manifest. */
const yamlishText = fc
  .array(fc.constantFrom(...YAML_PIECES), { maxLength: 80 })
  .map((pieces) => pieces.join(""));

/** A value of any JSON-ish shape, with wrong types where Kubernetes expects strings and maps. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom("", "__proto__", "constructor", "v1", "ConfigMap", "\u0000"),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer())),
);

/** A Kubernetes-like object whose every field may be missing or of the wrong type. */
const manifestLike: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    apiVersion: wrongValue,
    kind: wrongValue,
    metadata: fc.oneof(
      wrongValue,
      fc.record(
        {
          name: wrongValue,
          generateName: wrongValue,
          namespace: wrongValue,
          labels: wrongValue,
          annotations: wrongValue,
        },
        { requiredKeys: [] },
      ),
    ),
    items: fc.oneof(fc.constant(null), wrongValue, fc.array(wrongValue, { maxLength: 3 })),
    spec: wrongValue,
  },
  { requiredKeys: [] },
);

/** A well-formed object with random content, to be sure some documents pass. */
const manifest: fc.Arbitrary<Record<string, unknown>> = fc.record({
  apiVersion: fc.constantFrom("v1", "apps/v1", "example.com/v1alpha1"),
  kind: fc.constantFrom("ConfigMap", "Deployment", "List", "Widget"),
  metadata: fc.record(
    {
      name: fc.string({ minLength: 1, maxLength: 10 }),
      namespace: fc.string({ maxLength: 10 }),
      labels: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })),
    },
    { requiredKeys: ["name"] },
  ),
  data: fc.jsonValue({ maxDepth: 3 }),
});

/** A stream of documents printed from random values, some of them manifests with wrong types. */
const printedStream = fc
  .array(fc.oneof(manifest, manifestLike, fc.jsonValue({ maxDepth: 4 })), { maxLength: 6 })
  .map((values) => values.map((value) => stringify(value)).join("---\n"));

const NESTINGS: Record<string, (depth: number) => string> = {
  "flow sequences": (n) => `${"[".repeat(n)}${"]".repeat(n)}`,
  "flow mappings": (n) => `${"{a: ".repeat(n)}1${"}".repeat(n)}`,
  "block sequences": (n) => `${"- ".repeat(n)}x`,
  "block mappings": (n) => `${Array.from({ length: n }, (_, i) => `${" ".repeat(i)}a:`).join("\n")} 1`,
  "explicit keys": (n) => `${"? ".repeat(n)}x`,
  "collection keys": (n) => `${"{".repeat(n)}${"}".repeat(n)}`,
};

/** A document nested `depth` levels deep in one of several ways, after a harmless first document. */
const deepStream = fc
  .record({ how: fc.constantFrom(...Object.keys(NESTINGS)), depth: fc.integer({ min: 1, max: 1_000 }) })
  .map(({ how, depth }) => ({ how, depth, text: `a: 1\n---\n${NESTINGS[how]?.(depth) ?? ""}\n` }));

/** Billion laughs: `levels` anchors, each a list of `fanout` aliases of the one before. */
const aliasBomb = fc
  .record({ levels: fc.integer({ min: 1, max: 12 }), fanout: fc.integer({ min: 1, max: 10 }) })
  .map(({ levels, fanout }) => {
    const lines = ["l0: &l0 [x, x]"];
    for (let i = 1; i <= levels; i++) {
      lines.push(`l${i}: &l${i} [${Array.from({ length: fanout }, () => `*l${i - 1}`).join(", ")}]`);
    }
    return lines.join("\n");
  });

type Outcome = "decoded" | "problem";

/**
 * Runs `decode`; returns "decoded" or, for a RenderProblemError naming `where`, "problem".
 * Anything else thrown, or a call slower than MAX_CASE_MS, fails the property.
 */
function classify(where: string, decode: () => unknown, slowest: { ms: number }): Outcome {
  const started = performance.now();
  try {
    decode();
    return "decoded";
  } catch (error) {
    assert.ok(error instanceof RenderProblemError, `not a RenderProblemError: ${String(error)}`);
    assert.ok(error.message.startsWith(where), `does not name ${where}: ${error.message}`);
    assert.doesNotMatch(error.message, INTERNAL_ERROR);
    return "problem";
  } finally {
    const ms = performance.now() - started;
    slowest.ms = Math.max(slowest.ms, ms);
    assert.ok(ms < MAX_CASE_MS, `took ${Math.round(ms)} ms`);
  }
}

function count(outcomes: Outcome[]): string {
  const decoded = outcomes.filter((outcome) => outcome === "decoded").length;
  return `${decoded} decoded, ${outcomes.length - decoded} refused with a problem naming the stream`;
}

describe("reliability: fuzz", () => {
  it("random YAML-ish text decodes to documents or a problem naming the file, never a crash or a hang", (t) => {
    const outcomes: Outcome[] = [];
    const slowest = { ms: 0 };
    let documentErrors = 0;
    fc.assert(
      fc.property(fc.oneof(yamlishText, fc.string({ unit: "binary", maxLength: 300 })), (text) => {
        const outcome = classify(
          "fuzz.yaml",
          () => {
            for (const doc of readYamlDocuments(text, "fuzz.yaml")) {
              assert.ok(doc.index >= 1);
              if (doc.error !== undefined) {
                documentErrors += 1;
                assert.notEqual(doc.error, "");
                assert.doesNotMatch(doc.error, INTERNAL_ERROR);
              }
            }
          },
          slowest,
        );
        outcomes.push(outcome);
      }),
      { numRuns: 1_000 },
    );
    t.diagnostic(
      `${outcomes.length} random YAML-ish and binary strings: ${count(outcomes)}; ${documentErrors} documents carried a syntax error; slowest ${Math.round(slowest.ms)} ms`,
    );
  });

  it("tool output with wrong types in every manifest field yields checked objects or an invalid problem", (t) => {
    const outcomes: Outcome[] = [];
    const slowest = { ms: 0 };
    let objects = 0;
    fc.assert(
      fc.property(fc.oneof(printedStream, yamlishText), (text) => {
        const outcome = classify(
          "helm output",
          () => {
            for (const obj of decodeToolOutput(text, "helm")) {
              objects += 1;
              assert.equal(typeof obj.apiVersion, "string");
              assert.equal(typeof obj.kind, "string");
              assert.equal(typeof obj.metadata, "object");
              assert.ok(obj.metadata !== null && !Array.isArray(obj.metadata));
            }
          },
          slowest,
        );
        outcomes.push(outcome);
      }),
      { numRuns: 600 },
    );
    t.diagnostic(
      `${outcomes.length} random helm outputs: ${count(outcomes)}; ${objects} objects passed the checks; slowest ${Math.round(slowest.ms)} ms`,
    );
  });

  it("Lists and objects with wrong types are expanded and checked, or refused naming their document", (t) => {
    const outcomes: Outcome[] = [];
    const slowest = { ms: 0 };
    const decoded = fc.array(
      fc
        .record({ value: manifestLike, index: fc.nat(20) })
        .map(({ value, index }): DecodedValue => ({ value, where: `app/file.yaml document ${index}` })),
      { maxLength: 5 },
    );
    fc.assert(
      fc.property(decoded, (values) => {
        outcomes.push(classify("app/file.yaml document", () => toKubeObjects(values), slowest));
      }),
      { numRuns: 600 },
    );
    t.diagnostic(`${outcomes.length} random decoded value lists: ${count(outcomes)}`);
  });

  it(`YAML nested up to 1,000 levels is decoded, or refused past ${MAX_YAML_DEPTH} levels, within a bounded time`, (t) => {
    const outcomes: Outcome[] = [];
    const slowest = { ms: 0 };
    let deepest = 0;
    fc.assert(
      fc.property(deepStream, ({ how, depth, text }) => {
        deepest = Math.max(deepest, depth);
        const outcome = classify(`deep.yaml`, () => readYamlDocuments(text, "deep.yaml"), slowest);
        // Only a document deeper than the limit may be refused as a whole stream.
        if (outcome === "problem") assert.ok(depth > MAX_YAML_DEPTH / 2, `${how} at depth ${depth} refused`);
        else assert.ok(depth <= MAX_YAML_DEPTH, `${how} at depth ${depth} was composed`);
        outcomes.push(outcome);
      }),
      { numRuns: 120 },
    );
    // The process is still healthy after the deep documents: a normal parse still works.
    assert.deepEqual(readYamlDocuments("a: [1, {b: c}]\n", "after.yaml")[0]?.value, { a: [1, { b: "c" }] });
    t.diagnostic(
      `${outcomes.length} documents nested up to ${deepest} levels (6 kinds of nesting): ${count(outcomes)}; slowest ${Math.round(slowest.ms)} ms`,
    );
  });

  it("alias-heavy YAML is decoded or refused as an alias bomb within a bounded time", (t) => {
    const outcomes: Outcome[] = [];
    const slowest = { ms: 0 };
    fc.assert(
      fc.property(aliasBomb, (text) => {
        outcomes.push(classify("bomb.yaml", () => readYamlDocuments(text, "bomb.yaml"), slowest));
      }),
      { numRuns: 200 },
    );
    t.diagnostic(
      `${outcomes.length} alias expansions of up to 10^12 nodes: ${count(outcomes)}; slowest ${Math.round(slowest.ms)} ms`,
    );
  });
});
