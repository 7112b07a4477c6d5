import { type KubeClient, KubeError } from "../kube/kube-client.js";
import { type KubeObject, keyOf, type ObjectKey, subject } from "../kube/kube-object.js";

/** The one field manager every Flotilla write uses, so ownership is stable across agent versions. */
export const FIELD_MANAGER = "flotilla-agent";

export type ApplyMethod = {
  /** Replace=true: create or PUT the whole object instead of server-side apply. */
  replace: boolean;
  /** Force=true: delete and re-create when the object cannot be updated in place. */
  force: boolean;
  /** Validate=false turns strict server-side field validation off. */
  validate: boolean;
};

export type Applied = { result: "created" | "configured"; object: KubeObject };

/**
 * Writes one object: server-side apply with FIELD_MANAGER taking ownership of conflicting
 * fields (as Argo CD's `--force-conflicts`), or `Replace`/`Force` as the sync options ask.
 * `live` is the current object, or undefined when it does not exist. Throws KubeError.
 */
export async function applyObject(
  kube: KubeClient,
  obj: KubeObject,
  live: KubeObject | undefined,
  method: ApplyMethod,
): Promise<Applied> {
  const fieldValidation = method.validate ? "Strict" : "Ignore";
  const result = live ? "configured" : "created";
  if (method.replace) {
    if (!live)
      return { result, object: await kube.create(obj, { fieldManager: FIELD_MANAGER, fieldValidation }) };
    if (method.force && !isNeverReplaced(obj)) {
      await deleteAndWait(kube, obj.apiVersion, keyOf(obj));
      return { result, object: await kube.create(obj, { fieldManager: FIELD_MANAGER, fieldValidation }) };
    }
    // CRDs and Namespaces are updated in place, never deleted (Argo CD does the same).
    const update = { ...obj, metadata: { ...obj.metadata, resourceVersion: live.metadata.resourceVersion } };
    return { result, object: await kube.replace(update, { fieldManager: FIELD_MANAGER, fieldValidation }) };
  }
  try {
    return {
      result,
      object: await kube.apply(obj, { fieldManager: FIELD_MANAGER, force: true, fieldValidation }),
    };
  } catch (error) {
    // An immutable field (a Job's template, a Service's clusterIP) cannot be patched: with Force,
    // re-create the object as `kubectl apply --force` does.
    if (!(method.force && live && error instanceof KubeError && error.reason === "Invalid")) throw error;
    if (isNeverReplaced(obj)) throw error;
    await deleteAndWait(kube, obj.apiVersion, keyOf(obj));
    return {
      result,
      object: await kube.apply(obj, { fieldManager: FIELD_MANAGER, force: true, fieldValidation }),
    };
  }
}

/** The object as the server would store it after applyObject, without writing (server-side dry run). */
export async function dryRunApply(kube: KubeClient, obj: KubeObject, validate: boolean): Promise<KubeObject> {
  return kube.apply(obj, {
    fieldManager: FIELD_MANAGER,
    force: true,
    dryRun: true,
    fieldValidation: validate ? "Strict" : "Ignore",
  });
}

function isNeverReplaced(obj: KubeObject): boolean {
  return obj.kind === "Namespace" || obj.kind === "CustomResourceDefinition";
}

const deletePollMs = 250;

/**
 * Deletes an object in the foreground and waits until the API server no longer has it (its
 * dependents and finalizers done). Throws KubeError when it is still there after `timeoutMs`.
 */
export async function deleteAndWait(
  kube: KubeClient,
  apiVersion: string,
  key: ObjectKey,
  timeoutMs = 60_000,
): Promise<void> {
  await kube.delete(apiVersion, key, { propagationPolicy: "Foreground" });
  const deadline = Date.now() + timeoutMs;
  while (await kube.get(apiVersion, key)) {
    if (Date.now() > deadline) {
      throw new KubeError(
        `${subject(key)}: still terminating after ${Math.round(timeoutMs / 1000)} s`,
        "Unknown",
      );
    }
    await new Promise((resolve) => setTimeout(resolve, deletePollMs));
  }
}
