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
      typeof o === "object" &&
      o !== null &&
      typeof o.apiVersion === "string" &&
      typeof o.kind === "string" &&
      typeof o.metadata === "object" &&
      o.metadata !== null;
    if (!valid)
      throw new Error(`app ${app}: bundle ${digest} item ${index} lacks apiVersion, kind or metadata`);
  });
  return parsed as KubeObject[];
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
