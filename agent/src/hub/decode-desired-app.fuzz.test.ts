// Fuzz tests of the agent's decoding of what the hub sends: bundles of random bytes, random
// encodings and digests, random JSON (gzipped or not) whose digest matches, objects with wrong
// types in every field, and random DesiredApp messages built from the proto schema. Decoding must
// return objects the reconciler can rely on, or throw an Error naming the app, within a bounded
// time. fast-check prints the seed of a failing run.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { create } from "@bufbuild/protobuf";
import { DesiredAppSchema } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { messageArbitraries } from "@flotilla/proto/testing/message-arbitrary";
import fc from "fast-check";
import type { KubeObject } from "../kube/kube-object.js";
import { decodeBundle, decodeDesiredApp, toDesiredApp } from "./decode-desired-app.js";

/** One decode may take this long on a slow, shared machine before it counts as a hang. */
const MAX_CASE_MS = 5_000;
/** Messages of JavaScript's own TypeErrors and RangeErrors: a crash, not a clear error. */
const INTERNAL_ERROR =
  /is not a function|Cannot read propert|Cannot set propert|is not iterable|Cannot convert|Maximum call stack|Invalid array length/;

const digestOf = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.constantFrom("", "__proto__", "constructor"),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
  fc.dictionary(
    fc.string({ maxLength: 4 }),
    fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null)),
  ),
);

function mostly<T>(right: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: right, weight: 12 }, { arbitrary: wrongValue, weight: 1 });
}

/** An object as a bundle holds it, with now and then a field of the wrong type. */
const bundleItem = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      {
        apiVersion: mostly(fc.constantFrom("v1", "apps/v1")),
        kind: mostly(fc.constantFrom("ConfigMap", "Deployment")),
        metadata: mostly(
          fc.record(
            {
              name: mostly(fc.string({ minLength: 1, maxLength: 8 })),
              generateName: mostly(fc.constant("gen-")),
              namespace: mostly(fc.constantFrom("web", "")),
              labels: mostly(fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }))),
              annotations: mostly(
                fc.dictionary(fc.constantFrom("argocd.argoproj.io/hook", "x"), fc.string({ maxLength: 4 })),
              ),
            },
            { requiredKeys: ["name"] },
          ),
        ),
        data: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: [] },
    ),
  },
  wrongValue,
);

const payload = fc.oneof(
  {
    arbitrary: fc.array(bundleItem, { maxLength: 4 }).map((items) => Buffer.from(JSON.stringify(items))),
    weight: 4,
  },
  fc.jsonValue({ maxDepth: 3 }).map((value) => Buffer.from(JSON.stringify(value) ?? "null")),
  fc.integer({ min: 1, max: 5_000 }).map((depth) => Buffer.from(`${"[".repeat(depth)}${"]".repeat(depth)}`)),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
);

/** Bytes of a bundle, the encoding they claim and a digest: mostly consistent, sometimes not. */
const bundle = fc.oneof(
  {
    arbitrary: fc.record({ payload, gzip: fc.boolean() }).map(({ payload, gzip }) => ({
      bytes: gzip ? gzipSync(payload) : payload,
      encoding: gzip ? "gzip+json" : "json",
      digest: digestOf(payload),
    })),
    weight: 3,
  },
  fc
    .record({
      payload,
      encoding: fc.constantFrom("json", "gzip+json", "gzip", "", "JSON", "zstd"),
      gzip: fc.boolean(),
      digest: fc.oneof(fc.string({ maxLength: 20 }), fc.constant(`sha256:${"0".repeat(64)}`)),
    })
    .map(({ payload, encoding, gzip, digest }) => ({
      bytes: gzip ? gzipSync(payload) : payload,
      encoding,
      digest,
    })),
);

function isStringMap(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((item) => typeof item === "string")
  );
}

/** What the reconciler relies on in every object of a decoded bundle. */
function assertUsable(obj: KubeObject): void {
  assert.equal(typeof obj.apiVersion, "string");
  assert.notEqual(obj.apiVersion, "");
  assert.equal(typeof obj.kind, "string");
  assert.notEqual(obj.kind, "");
  const { metadata } = obj;
  assert.ok(
    typeof metadata === "object" && metadata !== null && !Array.isArray(metadata),
    "metadata is a mapping",
  );
  for (const field of ["name", "generateName", "namespace"] as const) {
    if (metadata[field] !== undefined) assert.equal(typeof metadata[field], "string", `metadata.${field}`);
  }
  for (const field of ["labels", "annotations"] as const) {
    if (metadata[field] !== undefined)
      assert.ok(isStringMap(metadata[field]), `metadata.${field} is a map of strings`);
  }
}

// ---- Random messages from a protobuf schema ----

const hostileString = fc.oneof(
  { arbitrary: fc.string({ maxLength: 16 }), weight: 4 },
  fc.constantFrom("", "\u0000", "__proto__", "constructor", "../..", "🚀"),
);

const arbitraries = messageArbitraries(fc, { string: hostileString });

function timed<T>(slowest: { ms: number }, run: () => T): T {
  const started = performance.now();
  try {
    return run();
  } finally {
    const ms = performance.now() - started;
    slowest.ms = Math.max(slowest.ms, ms);
    assert.ok(ms < MAX_CASE_MS, `took ${Math.round(ms)} ms`);
  }
}

describe("reliability: fuzz", () => {
  it("random bundles decode to objects the reconciler can use, or are refused naming the app", (t) => {
    const counts = { decoded: 0, refused: 0, objects: 0 };
    const slowest = { ms: 0 };
    fc.assert(
      fc.property(bundle, ({ bytes, encoding, digest }) => {
        timed(slowest, () => {
          try {
            const objects = decodeBundle("web", bytes, encoding, digest);
            counts.decoded += 1;
            counts.objects += objects.length;
            for (const obj of objects) assertUsable(obj);
          } catch (error) {
            assert.ok(error instanceof Error, String(error));
            if (error instanceof assert.AssertionError) throw error;
            assert.match(error.message, /^app web: /);
            assert.doesNotMatch(error.message, INTERNAL_ERROR);
            counts.refused += 1;
          }
        });
      }),
      { numRuns: 1_000 },
    );
    t.diagnostic(
      `${counts.decoded + counts.refused} random bundles: ${counts.decoded} decoded (${counts.objects} objects, each with the fields the reconciler reads), ${counts.refused} refused naming the app; slowest ${Math.round(slowest.ms)} ms`,
    );
  });

  it("random DesiredApp messages become a DesiredApp with every field of its type", (t) => {
    let converted = 0;
    let refused = 0;
    fc.assert(
      fc.property(arbitraries.message(DesiredAppSchema), bundle, fc.boolean(), (init, random, ownBundle) => {
        // Half the messages carry a random bundle of their own, half a consistent one.
        const message = create(DesiredAppSchema, {
          ...init,
          ...(ownBundle
            ? {}
            : { bundle: random.bytes, bundleEncoding: random.encoding, bundleDigest: random.digest }),
        });
        const app = toDesiredApp(message, []);
        assert.equal(typeof app.name, "string");
        assert.ok(Array.isArray(app.syncPolicy.syncOptions));
        assert.ok(app.ignoreDifferences.every((rule) => Array.isArray(rule.jsonPointers)));
        if (app.syncPolicy.retry) assert.equal(typeof app.syncPolicy.retry.limit, "number");
        converted += 1;
        try {
          const decoded = decodeDesiredApp(message, message.bundle ?? random.bytes);
          for (const obj of decoded.objects) assertUsable(obj);
        } catch (error) {
          assert.ok(error instanceof Error);
          if (error instanceof assert.AssertionError) throw error;
          assert.ok(error.message.startsWith(`app ${message.name}: `), error.message);
          refused += 1;
        }
      }),
      { numRuns: 500 },
    );
    t.diagnostic(
      `${converted} random DesiredApp messages converted without an exception; ${converted - refused} of their bundles decoded, ${refused} refused naming the app`,
    );
  });
});
