import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import type { DesiredApp as DesiredAppMessage } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import type { DesiredApp } from "../desired/desired-app.js";
import type { KubeObject } from "../kube/kube-object.js";

/** Decoded bundles larger than this are refused, so a hostile hub cannot exhaust memory. */
export const MAX_BUNDLE_BYTES = 256 * 1024 * 1024;

/**
 * The objects of a bundle: decodes `encoding` ("json" or "gzip+json"), checks that the sha256 of
 * the decoded JSON equals `digest` and that it is an array of objects with apiVersion, kind and
 * metadata. Throws an Error naming the app and the cause.
 */
export function decodeBundle(app: string, bytes: Uint8Array, encoding: string, digest: string): KubeObject[] {
  let json: Buffer;
  if (encoding === "json") json = Buffer.from(bytes);
  else if (encoding === "gzip+json") {
    try {
      json = gunzipSync(bytes, { maxOutputLength: MAX_BUNDLE_BYTES });
    } catch (cause) {
      throw new Error(
        `app ${app}: bundle ${digest} is not valid gzip or decodes to more than ${MAX_BUNDLE_BYTES} bytes`,
        {
          cause,
        },
      );
    }
  } else throw new Error(`app ${app}: unknown bundle encoding "${encoding}"`);
  const actual = `sha256:${createHash("sha256").update(json).digest("hex")}`;
  if (actual !== digest)
    throw new Error(`app ${app}: bundle digest mismatch: expected ${digest}, got ${actual}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.toString("utf8"));
  } catch (cause) {
    throw new Error(`app ${app}: bundle ${digest} is not JSON`, { cause });
  }
  if (!Array.isArray(parsed)) throw new Error(`app ${app}: bundle ${digest} is not a JSON array of objects`);
  parsed.forEach((obj, index) => {
    const o = obj as Partial<KubeObject> | null;
    const valid =
      isMapping(o) &&
      typeof o.apiVersion === "string" &&
      o.apiVersion !== "" &&
      typeof o.kind === "string" &&
      o.kind !== "" &&
      isMapping(o.metadata);
    if (!valid)
      throw new Error(`app ${app}: bundle ${digest} item ${index} lacks apiVersion, kind or metadata`);
    const problem = checkMetadata(o.metadata as Record<string, unknown>);
    if (problem) throw new Error(`app ${app}: bundle ${digest} item ${index} (${o.kind}): ${problem}`);
  });
  return parsed as KubeObject[];
}

/**
 * Why the reconciler could not rely on this metadata (it reads names and namespaces as strings,
 * labels and annotations as maps of strings), or undefined. The hub's renderer refuses the same.
 */
function checkMetadata(metadata: Record<string, unknown>): string | undefined {
  for (const field of ["name", "generateName", "namespace"]) {
    if (metadata[field] !== undefined && typeof metadata[field] !== "string")
      return `metadata.${field} is not a string`;
  }
  if (!metadata.name && !metadata.generateName) return "metadata.name is missing";
  for (const field of ["labels", "annotations"]) {
    const map = metadata[field];
    if (map === undefined) continue;
    if (!isMapping(map) || Object.values(map).some((value) => typeof value !== "string"))
      return `metadata.${field} is not a map of strings`;
  }
  return undefined;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The agent's DesiredApp from the hub's message. `bundle` is the encoded bundle, from the message
 * itself or from the agent's bundle cache when the hub left it out.
 */
export function decodeDesiredApp(message: DesiredAppMessage, bundle: Uint8Array): DesiredApp {
  return toDesiredApp(
    message,
    decodeBundle(message.name, bundle, message.bundleEncoding, message.bundleDigest),
  );
}

/**
 * The agent's DesiredApp from the hub's message and the objects of its bundle, already decoded
 * (the agent holds `message.bundleDigest` from an earlier delivery).
 */
export function toDesiredApp(message: DesiredAppMessage, objects: KubeObject[]): DesiredApp {
  const policy = message.syncPolicy;
  const automated = policy?.automated;
  const retry = policy?.retry;
  return {
    name: message.name,
    namespace: message.namespace,
    revision: message.revision,
    digest: message.digest,
    syncPolicy: {
      ...(automated
        ? {
            automated: {
              prune: automated.prune,
              selfHeal: automated.selfHeal,
              allowEmpty: automated.allowEmpty,
            },
          }
        : {}),
      syncOptions: [...(policy?.syncOptions ?? [])],
      ...(retry
        ? {
            retry: {
              limit: retry.limit,
              backoffDurationMs: retry.backoffDurationMs,
              backoffFactor: retry.backoffFactor,
              backoffMaxDurationMs: retry.backoffMaxDurationMs,
            },
          }
        : {}),
    },
    ignoreDifferences: message.ignoreDifferences.map((rule) => ({
      group: rule.group,
      kind: rule.kind,
      name: rule.name,
      namespace: rule.namespace,
      jsonPointers: [...rule.jsonPointers],
      jqPathExpressions: [...rule.jqPathExpressions],
      managedFieldsManagers: [...rule.managedFieldsManagers],
    })),
    objects,
  };
}
