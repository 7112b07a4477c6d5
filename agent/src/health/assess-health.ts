/**
 * Resource and application health, following Argo CD's gitops-engine built-in checks
 * (`pkg/health/*.go`, plus the bundled CronJob/ApplicationSet Lua) and the app-level aggregation of
 * `controller/health.go setApplicationHealth`. Pure functions over plain (unstructured) objects.
 */

/** Health codes, declared best to worst: the order `isWorse` uses. */
export const healthOrder = ["Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"] as const;

export type HealthStatus = (typeof healthOrder)[number];

export type Health = { status: HealthStatus; message?: string };

type Obj = Record<string, unknown>;
type Condition = { type?: string; status?: string; reason?: string; message?: string };
type HealthCheck = (obj: Obj) => Health | undefined;

function asObj(value: unknown): Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Obj) : {};
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function asString(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** Integer field as Go sees it after unstructured conversion: absent means 0. */
function asInt(value: unknown): number {
  return typeof value === "number" ? value : 0;
}

/** Optional integer field (`*int32` in Go): absent means undefined. */
function asOptionalInt(value: unknown): number | undefined {
  return typeof value === "number" ? value : undefined;
}

function spec(obj: Obj): Obj {
  return asObj(obj.spec);
}

function status(obj: Obj): Obj {
  return asObj(obj.status);
}

function metadata(obj: Obj): Obj {
  return asObj(obj.metadata);
}

function nameOf(obj: Obj): string {
  return asString(metadata(obj).name);
}

function conditionsOf(obj: Obj): Condition[] {
  return asArray(status(obj).conditions).map((c) => asObj(c) as Condition);
}

function findCondition(obj: Obj, type: string): Condition | undefined {
  return conditionsOf(obj).find((c) => c.type === type);
}

function health(statusCode: HealthStatus, message?: string): Health {
  return message ? { status: statusCode, message } : { status: statusCode };
}

/** Splits `apiVersion` into group (empty for core) and version. */
function parseApiVersion(obj: Obj): { group: string; version: string } {
  const apiVersion = asString(obj.apiVersion);
  const slash = apiVersion.indexOf("/");
  return slash < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function generationObserved(obj: Obj): boolean {
  return asInt(metadata(obj).generation) <= asInt(status(obj).observedGeneration);
}

function assessDeploymentHealth(obj: Obj): Health {
  const s = status(obj);
  const replicas = asOptionalInt(spec(obj).replicas);
  if (spec(obj).paused === true) return health("Suspended", "Deployment is paused");
  if (!generationObserved(obj)) {
    return health(
      "Progressing",
      "Waiting for rollout to finish: observed deployment generation less than desired generation",
    );
  }
  const updated = asInt(s.updatedReplicas);
  if (findCondition(obj, "Progressing")?.reason === "ProgressDeadlineExceeded") {
    return health("Degraded", `Deployment "${nameOf(obj)}" exceeded its progress deadline`);
  }
  if (replicas !== undefined && updated < replicas) {
    return health(
      "Progressing",
      `Waiting for rollout to finish: ${updated} out of ${replicas} new replicas have been updated...`,
    );
  }
  if (asInt(s.replicas) > updated) {
    return health(
      "Progressing",
      `Waiting for rollout to finish: ${asInt(s.replicas) - updated} old replicas are pending termination...`,
    );
  }
  if (asInt(s.availableReplicas) < updated) {
    return health(
      "Progressing",
      `Waiting for rollout to finish: ${asInt(s.availableReplicas)} of ${updated} updated replicas are available...`,
    );
  }
  return health("Healthy");
}

function assessStatefulSetHealth(obj: Obj): Health {
  const s = status(obj);
  const replicas = asOptionalInt(spec(obj).replicas);
  const observed = asInt(s.observedGeneration);
  if (observed === 0 || asInt(metadata(obj).generation) > observed) {
    return health("Progressing", "Waiting for statefulset spec update to be observed...");
  }
  const ready = asInt(s.readyReplicas);
  if (replicas !== undefined && ready < replicas) {
    return health("Progressing", `Waiting for ${replicas - ready} pods to be ready...`);
  }
  const strategy = asObj(spec(obj).updateStrategy);
  const updated = asInt(s.updatedReplicas);
  if (
    strategy.type === "RollingUpdate" &&
    strategy.rollingUpdate !== undefined &&
    strategy.rollingUpdate !== null
  ) {
    const partition = asOptionalInt(asObj(strategy.rollingUpdate).partition);
    if (replicas !== undefined && partition !== undefined && updated < replicas - partition) {
      return health(
        "Progressing",
        `Waiting for partitioned roll out to finish: ${updated} out of ${replicas - partition} new pods have been updated...`,
      );
    }
    return health("Healthy", `partitioned roll out complete: ${updated} new pods have been updated...`);
  }
  if (strategy.type === "OnDelete") return health("Healthy", `statefulset has ${ready} ready pods`);
  if (asString(s.updateRevision) !== asString(s.currentRevision)) {
    return health(
      "Progressing",
      `waiting for statefulset rolling update to complete ${updated} pods at revision ${asString(s.updateRevision)}...`,
    );
  }
  return health(
    "Healthy",
    `statefulset rolling update complete ${asInt(s.currentReplicas)} pods at revision ${asString(s.currentRevision)}...`,
  );
}

function assessDaemonSetHealth(obj: Obj): Health {
  const s = status(obj);
  if (!generationObserved(obj)) {
    return health(
      "Progressing",
      "Waiting for rollout to finish: observed daemon set generation less than desired generation",
    );
  }
  const desired = asInt(s.desiredNumberScheduled);
  const updated = asInt(s.updatedNumberScheduled);
  if (asObj(spec(obj).updateStrategy).type === "OnDelete") {
    return health("Healthy", `daemon set ${updated} out of ${desired} new pods have been updated`);
  }
  if (updated < desired) {
    return health(
      "Progressing",
      `Waiting for daemon set "${nameOf(obj)}" rollout to finish: ${updated} out of ${desired} new pods have been updated...`,
    );
  }
  const available = asInt(s.numberAvailable);
  if (available < desired) {
    return health(
      "Progressing",
      `Waiting for daemon set "${nameOf(obj)}" rollout to finish: ${available} of ${desired} updated pods are available...`,
    );
  }
  return health("Healthy");
}

function assessReplicaSetHealth(obj: Obj): Health {
  if (!generationObserved(obj)) {
    return health(
      "Progressing",
      "Waiting for rollout to finish: observed replica set generation less than desired generation",
    );
  }
  const failure = findCondition(obj, "ReplicaFailure");
  if (failure?.status === "True") return health("Degraded", failure.message);
  const replicas = asOptionalInt(spec(obj).replicas);
  const available = asInt(status(obj).availableReplicas);
  if (replicas !== undefined && available < replicas) {
    return health(
      "Progressing",
      `Waiting for rollout to finish: ${available} out of ${replicas} new replicas are available...`,
    );
  }
  return health("Healthy");
}

const hookAnnotations = ["argocd.argoproj.io/hook", "helm.sh/hook"];

/** Argo CD's in-tree Pod check treats a pod as restart-policy Always when asked to, unless it is a hook. */
function podRestartsAlways(obj: Obj): boolean {
  if (spec(obj).restartPolicy === "Always") return true;
  const annotations = asObj(metadata(obj).annotations);
  return (
    annotations["argocd.argoproj.io/ignore-restart-policy"] === "true" &&
    !hookAnnotations.some((a) => annotations[a] !== undefined)
  );
}

function terminatedMessage(containerStatus: Obj): string {
  const raw = asObj(containerStatus.state).terminated;
  if (raw === undefined || raw === null) return "";
  const terminated = asObj(raw);
  if (asString(terminated.message)) return asString(terminated.message);
  if (terminated.reason === "OOMKilled") return "OOMKilled";
  const exitCode = asInt(terminated.exitCode);
  if (exitCode !== 0)
    return `container "${asString(containerStatus.name)}" failed with exit code ${exitCode}`;
  return "";
}

function assessPodHealth(obj: Obj): Health {
  const s = status(obj);
  const message = asString(s.message);
  const containers = asArray(s.containerStatuses).map(asObj);
  const restartsAlways = podRestartsAlways(obj);
  if (restartsAlways) {
    const messages: string[] = [];
    let degraded = false;
    for (const c of containers) {
      const waiting = asObj(c.state).waiting;
      if (waiting === undefined || waiting === null) continue;
      const reason = asString(asObj(waiting).reason);
      if (reason.startsWith("Err") || reason.endsWith("Error") || reason.endsWith("BackOff")) {
        degraded = true;
        messages.push(asString(asObj(waiting).message));
      }
    }
    if (degraded) return health("Degraded", messages.join(", "));
  }
  switch (s.phase) {
    case "Pending":
      return health("Progressing", message);
    case "Succeeded":
      return health("Healthy", message);
    case "Failed": {
      if (message) return health("Degraded", message);
      for (const c of [...asArray(s.initContainerStatuses).map(asObj), ...containers]) {
        const failure = terminatedMessage(c);
        if (failure) return health("Degraded", failure);
      }
      return health("Degraded");
    }
    case "Running": {
      if (restartsAlways) {
        if (findCondition(obj, "Ready")?.status === "True") return health("Healthy", message);
        const restarted = containers.some((c) => {
          const terminated = asObj(c.lastState).terminated;
          return terminated !== undefined && terminated !== null;
        });
        return health(restarted ? "Degraded" : "Progressing", message);
      }
      const policy = spec(obj).restartPolicy;
      if (policy === "OnFailure" || policy === "Never") return health("Progressing", message);
      return health("Unknown", message);
    }
    default:
      return health("Unknown", message);
  }
}

function hasLoadBalancerIngress(obj: Obj): boolean {
  return asArray(asObj(status(obj).loadBalancer).ingress).length > 0;
}

function assessServiceHealth(obj: Obj): Health {
  if (spec(obj).type !== "LoadBalancer") return health("Healthy");
  return health(hasLoadBalancerIngress(obj) ? "Healthy" : "Progressing");
}

function assessIngressHealth(obj: Obj): Health {
  return health(hasLoadBalancerIngress(obj) ? "Healthy" : "Progressing");
}

function assessPersistentVolumeClaimHealth(obj: Obj): Health {
  switch (status(obj).phase) {
    case "Lost":
      return health("Degraded");
    case "Pending":
      return health("Progressing");
    case "Bound":
      return health("Healthy");
    default:
      return health("Unknown");
  }
}

/** Condition status is deliberately not checked for Failed and Complete, as in Argo CD. */
function assessJobHealth(obj: Obj): Health {
  let failed = false;
  let complete = false;
  let suspended = false;
  let failMessage = "";
  let message = "";
  for (const c of conditionsOf(obj)) {
    if (c.type === "Failed") {
      failed = true;
      complete = true;
      failMessage = asString(c.message);
    } else if (c.type === "Complete") {
      complete = true;
      message = asString(c.message);
    } else if (c.type === "Suspended") {
      complete = true;
      message = asString(c.message);
      if (c.status === "True") suspended = true;
    }
  }
  if (!complete) return health("Progressing", message);
  if (failed) return health("Degraded", failMessage);
  if (suspended) return health("Suspended", message);
  return health("Healthy", message);
}

/** Argo CD's bundled Lua: a suspended CronJob is deliberately Healthy. Timestamps compare as RFC 3339 strings. */
function assessCronJobHealth(obj: Obj): Health {
  if (spec(obj).suspend === true) return health("Healthy", "CronJob is Suspended");
  if (obj.status === undefined || obj.status === null) return health("Progressing", "Waiting for CronJob");
  const s = status(obj);
  if (s.lastScheduleTime === undefined || s.lastScheduleTime === null) {
    return health("Healthy", "The CronJob has not been scheduled yet");
  }
  if (s.lastSuccessfulTime === undefined || s.lastSuccessfulTime === null) {
    return health("Healthy", "The CronJob has not completed a run yet");
  }
  if (asArray(s.active).length > 0) return health("Healthy", "The CronJob has active jobs");
  if (asString(s.lastSuccessfulTime) < asString(s.lastScheduleTime)) {
    return health("Degraded", "CronJob has not completed its last execution successfully");
  }
  return health("Healthy", "The CronJob has completed its last execution successfully");
}

const hpaDegradedStates: ReadonlyArray<{ type: string; reason: string }> = [
  { type: "AbleToScale", reason: "FailedGetScale" },
  { type: "AbleToScale", reason: "FailedUpdateScale" },
  { type: "ScalingActive", reason: "FailedGetResourceMetric" },
  { type: "ScalingActive", reason: "InvalidSelector" },
];

function assessHpaConditions(conditions: Condition[]): Health {
  for (const c of conditions) {
    if (hpaDegradedStates.some((d) => d.type === c.type && d.reason === c.reason)) {
      return health("Degraded", c.message);
    }
    if ((c.type === "AbleToScale" || c.type === "ScalingLimited") && c.status === "True") {
      return health("Healthy", c.message);
    }
  }
  return health("Progressing", "Waiting to Autoscale");
}

/** v1 keeps conditions in an annotation (JSON); v2 (and v2beta1/v2beta2) in `status.conditions`. */
function assessHorizontalPodAutoscalerHealth(obj: Obj): Health | undefined {
  const { version } = parseApiVersion(obj);
  if (version === "v1") {
    const raw = asString(asObj(metadata(obj).annotations)["autoscaling.alpha.kubernetes.io/conditions"]);
    if (!raw) return health("Progressing", "Waiting to Autoscale");
    const parsed: unknown = JSON.parse(raw);
    return assessHpaConditions(asArray(parsed).map((c) => asObj(c) as Condition));
  }
  if (version === "v2" || version === "v2beta1" || version === "v2beta2") {
    return assessHpaConditions(conditionsOf(obj));
  }
  return undefined;
}

function assessApiServiceHealth(obj: Obj): Health {
  const available = findCondition(obj, "Available");
  if (available === undefined) return health("Progressing", "Waiting to be processed");
  return health(available.status === "True" ? "Healthy" : "Progressing", available.message);
}

function assessWorkflowHealth(obj: Obj): Health {
  const message = asString(status(obj).message);
  switch (asString(status(obj).phase)) {
    case "":
    case "Pending":
    case "Running":
      return health("Progressing", message);
    case "Succeeded":
      return health("Healthy", message);
    case "Failed":
    case "Error":
      return health("Degraded", message);
    default:
      return health("Unknown", message);
  }
}

function assessApplicationSetHealth(obj: Obj): Health {
  const conditions = conditionsOf(obj);
  const find = (type: string, value: string) => conditions.find((c) => c.type === type && c.status === value);
  const error = find("ErrorOccurred", "True") ?? find("ResourcesUpToDate", "False");
  if (error) return health("Degraded", error.message);
  const rolling = find("RolloutProgressing", "True");
  if (rolling) return health("Progressing", rolling.message);
  const upToDate = find("ResourcesUpToDate", "True");
  if (upToDate) return health("Healthy", upToDate.message);
  return health("Progressing", "Waiting for the status to be reported");
}

/** Built-in checks keyed by `group/Kind` (core group empty: `/Pod`). */
/**
 * CustomResourceDefinition, after kstatus (Argo CD has no check for it): names not accepted is
 * Degraded; Established True is Healthy; Established False (other than while installing) is
 * Degraded; otherwise Progressing. It lets a wave wait until a CRD is served.
 */
function assessCustomResourceDefinitionHealth(obj: Obj): Health {
  const names = findCondition(obj, "NamesAccepted");
  if (names?.status === "False") return health("Degraded", names.message);
  const established = findCondition(obj, "Established");
  if (established?.status === "True") return health("Healthy");
  if (established?.status === "False" && established.reason !== "Installing") {
    return health("Degraded", established.message);
  }
  return health("Progressing", established?.message ?? "Waiting for the CRD to be established");
}

const builtinChecks: ReadonlyMap<string, HealthCheck> = new Map<string, HealthCheck>([
  ["apiextensions.k8s.io/CustomResourceDefinition", assessCustomResourceDefinitionHealth],
  ["apps/Deployment", assessDeploymentHealth],
  ["apps/StatefulSet", assessStatefulSetHealth],
  ["apps/DaemonSet", assessDaemonSetHealth],
  ["apps/ReplicaSet", assessReplicaSetHealth],
  ["/Pod", assessPodHealth],
  ["/Service", assessServiceHealth],
  ["/PersistentVolumeClaim", assessPersistentVolumeClaimHealth],
  ["extensions/Ingress", assessIngressHealth],
  ["networking.k8s.io/Ingress", assessIngressHealth],
  ["batch/Job", assessJobHealth],
  ["batch/CronJob", assessCronJobHealth],
  ["autoscaling/HorizontalPodAutoscaler", assessHorizontalPodAutoscalerHealth],
  ["apiregistration.k8s.io/APIService", assessApiServiceHealth],
  ["argoproj.io/Workflow", assessWorkflowHealth],
  ["argoproj.io/ApplicationSet", assessApplicationSetHealth],
]);

const progressReason =
  /progress|reconcil|pending|waiting|creating|provisioning|initializ|install|updating|scaling/i;

/**
 * Kinds without a built-in check: a newer generation not yet observed is Progressing; then the
 * `Ready` (else `Available`) condition decides: True is Healthy, False is Degraded with its message
 * (Progressing if its reason says work is under way), Unknown is Progressing. No such condition: no health.
 */
function assessGenericHealth(obj: Obj): Health | undefined {
  const observed = asOptionalInt(status(obj).observedGeneration);
  if (observed !== undefined && observed < asInt(metadata(obj).generation)) {
    return health("Progressing", "Waiting for the latest generation to be observed");
  }
  const condition = findCondition(obj, "Ready") ?? findCondition(obj, "Available");
  if (condition === undefined) return undefined;
  if (condition.status === "True") return health("Healthy", condition.message);
  if (condition.status === "False" && !progressReason.test(asString(condition.reason))) {
    return health("Degraded", condition.message);
  }
  return health("Progressing", condition.message);
}

/**
 * Assesses one live object the way Argo CD does. `undefined` input (no live object) is Missing; a
 * set `deletionTimestamp` is Progressing "Pending deletion"; then the built-in check for its
 * `group/Kind`, else the generic condition rule. Returns undefined when the object has no health
 * (callers treat that as OK). A check that throws (e.g. malformed HPA annotation) yields Unknown.
 */
export function assessResourceHealth(obj: Record<string, unknown> | undefined): Health | undefined {
  if (obj === undefined) return { status: "Missing" };
  const deletionTimestamp = metadata(obj).deletionTimestamp;
  if (deletionTimestamp !== undefined && deletionTimestamp !== null) {
    return { status: "Progressing", message: "Pending deletion" };
  }
  const check =
    builtinChecks.get(`${parseApiVersion(obj).group}/${asString(obj.kind)}`) ?? assessGenericHealth;
  try {
    return check(obj);
  } catch (error) {
    return { status: "Unknown", message: error instanceof Error ? error.message : String(error) };
  }
}

/** True when `candidate` is strictly worse than `current` in Argo CD's order. */
export function isWorse(current: HealthStatus, candidate: HealthStatus): boolean {
  return healthOrder.indexOf(candidate) > healthOrder.indexOf(current);
}

/**
 * Aggregates resource health into app health like Argo CD's setApplicationHealth: start Healthy;
 * skip hooks, ignored resources and resources without health; Missing does not worsen the app;
 * otherwise the worst status wins (with that resource's message). A non-empty list whose every
 * resource is Missing makes the app Missing.
 */
export function aggregateAppHealth(
  resources: { health?: Health; hook?: boolean; ignored?: boolean }[],
): Health {
  let app: Health = { status: "Healthy" };
  for (const resource of resources) {
    if (resource.hook || resource.ignored || resource.health === undefined) continue;
    if (resource.health.status === "Missing") continue;
    if (isWorse(app.status, resource.health.status)) app = { ...resource.health };
  }
  if (resources.length > 0 && resources.every((r) => r.health?.status === "Missing"))
    return { status: "Missing" };
  return app;
}
