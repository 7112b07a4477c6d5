import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { create } from "@bufbuild/protobuf";
import {
  AutomatedSchema,
  DesiredAppSchema,
  IgnoreDifferenceSchema,
  SyncPolicySchema,
} from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { decodeBundle, decodeDesiredApp } from "./decode-desired-app.js";

const objects = [
  { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "web" }, data: { k: "v" } },
];
const json = Buffer.from(JSON.stringify(objects));
const digest = `sha256:${createHash("sha256").update(json).digest("hex")}`;

describe("decodeDesiredApp", () => {
  it("turns the hub's message and its gzip bundle into the agent's DesiredApp", () => {
    const message = create(DesiredAppSchema, {
      name: "web",
      namespace: "web",
      revision: "0123456789abcdef",
      digest: "sha256:app",
      syncPolicy: create(SyncPolicySchema, {
        automated: create(AutomatedSchema, { prune: true, selfHeal: true }),
        syncOptions: ["CreateNamespace=true"],
      }),
      ignoreDifferences: [
        create(IgnoreDifferenceSchema, {
          group: "apps",
          kind: "Deployment",
          jsonPointers: ["/spec/replicas"],
        }),
      ],
      bundleDigest: digest,
      bundleEncoding: "gzip+json",
      objectCount: 1,
    });
    const app = decodeDesiredApp(message, gzipSync(json));
    assert.deepEqual(app, {
      name: "web",
      namespace: "web",
      revision: "0123456789abcdef",
      digest: "sha256:app",
      syncPolicy: {
        automated: { prune: true, selfHeal: true, allowEmpty: false },
        syncOptions: ["CreateNamespace=true"],
      },
      ignoreDifferences: [
        {
          group: "apps",
          kind: "Deployment",
          name: "",
          namespace: "",
          jsonPointers: ["/spec/replicas"],
          jqPathExpressions: [],
          managedFieldsManagers: [],
        },
      ],
      objects,
    });
  });

  it("leaves automated unset for a manual sync policy", () => {
    const message = create(DesiredAppSchema, { name: "m", bundleDigest: digest, bundleEncoding: "json" });
    assert.equal(decodeDesiredApp(message, json).syncPolicy.automated, undefined);
  });
});

describe("decodeBundle", () => {
  it("refuses a bundle whose bytes do not hash to its digest, naming the app", () => {
    const tampered = Buffer.from(JSON.stringify([{ ...objects[0], data: { k: "evil" } }]));
    assert.throws(() => decodeBundle("web", tampered, "json", digest), /app web: bundle digest mismatch/);
  });

  it("refuses an unknown encoding and a payload that is not an array of objects", () => {
    assert.throws(
      () => decodeBundle("web", json, "zstd+json", digest),
      /unknown bundle encoding "zstd\+json"/,
    );
    const notArray = Buffer.from('{"kind":"ConfigMap"}');
    const notArrayDigest = `sha256:${createHash("sha256").update(notArray).digest("hex")}`;
    assert.throws(() => decodeBundle("web", notArray, "json", notArrayDigest), /not a JSON array/);
    const noKind = Buffer.from('[{"apiVersion":"v1","metadata":{}}]');
    const noKindDigest = `sha256:${createHash("sha256").update(noKind).digest("hex")}`;
    assert.throws(
      () => decodeBundle("web", noKind, "json", noKindDigest),
      /item 0 lacks apiVersion, kind or metadata/,
    );
  });

  it("refuses gzip that is not gzip", () => {
    assert.throws(() => decodeBundle("web", json, "gzip+json", digest), /not valid gzip/);
  });
});
