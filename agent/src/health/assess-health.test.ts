import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { aggregateAppHealth, assessResourceHealth, type Health, isWorse } from "./assess-health.js";

type Obj = Record<string, unknown>;

function statusOf(obj: Obj | undefined): string | undefined {
  return assessResourceHealth(obj)?.status;
}

function deployment(spec: Obj, status: Obj, generation = 2): Obj {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "shop", generation },
    spec: { replicas: 3, ...spec },
    status: { observedGeneration: 2, ...status },
  };
}

const rolledOut = { replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 };

describe("assessResourceHealth: common rules", () => {
  it("returns Missing when there is no live object", () => {
    assert.deepEqual(assessResourceHealth(undefined), { status: "Missing" });
  });
  it("returns Progressing 'Pending deletion' when deletionTimestamp is set, before any kind check", () => {
    const obj = deployment({}, rolledOut);
    (obj.metadata as Obj).deletionTimestamp = "2024-05-01T10:00:00Z";
    assert.deepEqual(assessResourceHealth(obj), { status: "Progressing", message: "Pending deletion" });
  });
  it("returns Unknown when a check fails (malformed HPA v1 conditions annotation)", () => {
    const hpa = {
      apiVersion: "autoscaling/v1",
      kind: "HorizontalPodAutoscaler",
      metadata: { name: "web", annotations: { "autoscaling.alpha.kubernetes.io/conditions": "{not json" } },
    };
    assert.equal(statusOf(hpa), "Unknown");
  });
});

describe("assessResourceHealth: Deployment", () => {
  it("is Suspended when spec.paused", () => {
    assert.deepEqual(assessResourceHealth(deployment({ paused: true }, rolledOut)), {
      status: "Suspended",
      message: "Deployment is paused",
    });
  });
  it("is Degraded when the Progressing condition reports ProgressDeadlineExceeded", () => {
    const obj = deployment(
      {},
      {
        ...rolledOut,
        updatedReplicas: 1,
        conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
      },
    );
    assert.deepEqual(assessResourceHealth(obj), {
      status: "Degraded",
      message: 'Deployment "web" exceeded its progress deadline',
    });
  });
  it("is Progressing while fewer replicas are updated than desired", () => {
    assert.equal(statusOf(deployment({}, { ...rolledOut, updatedReplicas: 1 })), "Progressing");
  });
  it("is Progressing while old replicas are pending termination", () => {
    assert.equal(statusOf(deployment({}, { ...rolledOut, replicas: 4 })), "Progressing");
  });
  it("is Progressing while updated replicas are not all available", () => {
    assert.equal(statusOf(deployment({}, { ...rolledOut, availableReplicas: 2 })), "Progressing");
  });
  it("is Healthy when the rollout is complete", () => {
    assert.deepEqual(assessResourceHealth(deployment({}, rolledOut)), { status: "Healthy" });
  });
  it("is Progressing when the generation is not yet observed, even if a deadline was exceeded", () => {
    const obj = deployment(
      {},
      { ...rolledOut, conditions: [{ type: "Progressing", reason: "ProgressDeadlineExceeded" }] },
      3,
    );
    assert.equal(statusOf(obj), "Progressing");
  });
});

function statefulSet(spec: Obj, status: Obj, generation = 1): Obj {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "db", generation },
    spec: { replicas: 3, updateStrategy: { type: "RollingUpdate" }, ...spec },
    status: {
      observedGeneration: 1,
      replicas: 3,
      readyReplicas: 3,
      updatedReplicas: 3,
      currentReplicas: 3,
      currentRevision: "db-7d9",
      updateRevision: "db-7d9",
      ...status,
    },
  };
}

describe("assessResourceHealth: StatefulSet", () => {
  it("is Progressing when observedGeneration is 0", () => {
    assert.equal(statusOf(statefulSet({}, { observedGeneration: 0 })), "Progressing");
  });
  it("is Progressing when the generation is not yet observed", () => {
    assert.equal(statusOf(statefulSet({}, {}, 2)), "Progressing");
  });
  it("is Progressing while fewer pods are ready than desired", () => {
    assert.equal(statusOf(statefulSet({}, { readyReplicas: 2 })), "Progressing");
  });
  it("is Progressing during a partitioned rollout below replicas - partition", () => {
    const obj = statefulSet(
      { updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 1 } } },
      { updatedReplicas: 1 },
    );
    assert.equal(statusOf(obj), "Progressing");
  });
  it("is Healthy once a partitioned rollout reaches replicas - partition, ignoring revisions", () => {
    const obj = statefulSet(
      { updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 1 } } },
      { updatedReplicas: 2, updateRevision: "db-8aa" },
    );
    assert.equal(statusOf(obj), "Healthy");
  });
  it("is Healthy with OnDelete even when revisions differ", () => {
    const obj = statefulSet({ updateStrategy: { type: "OnDelete" } }, { updateRevision: "db-8aa" });
    assert.equal(statusOf(obj), "Healthy");
  });
  it("is Progressing while updateRevision differs from currentRevision", () => {
    assert.equal(statusOf(statefulSet({}, { updateRevision: "db-8aa", updatedReplicas: 1 })), "Progressing");
  });
  it("is Healthy when the rolling update is complete", () => {
    assert.equal(statusOf(statefulSet({}, {})), "Healthy");
  });
});

function daemonSet(spec: Obj, status: Obj, generation = 1): Obj {
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "agent", generation },
    spec,
    status: {
      observedGeneration: 1,
      desiredNumberScheduled: 4,
      currentNumberScheduled: 4,
      updatedNumberScheduled: 4,
      numberAvailable: 4,
      numberReady: 4,
      ...status,
    },
  };
}

describe("assessResourceHealth: DaemonSet", () => {
  it("is Progressing when the generation is not yet observed", () => {
    assert.equal(statusOf(daemonSet({}, {}, 2)), "Progressing");
  });
  it("is Healthy with OnDelete even when pods are not updated", () => {
    assert.equal(
      statusOf(daemonSet({ updateStrategy: { type: "OnDelete" } }, { updatedNumberScheduled: 1 })),
      "Healthy",
    );
  });
  it("is Progressing while fewer pods are updated than desired", () => {
    assert.equal(statusOf(daemonSet({}, { updatedNumberScheduled: 3 })), "Progressing");
  });
  it("is Progressing while fewer pods are available than desired", () => {
    assert.equal(statusOf(daemonSet({}, { numberAvailable: 3 })), "Progressing");
  });
  it("is Healthy when all desired pods are updated and available", () => {
    assert.equal(statusOf(daemonSet({}, {})), "Healthy");
  });
});

function replicaSet(status: Obj, generation = 1): Obj {
  return {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: { name: "web-7d9", generation },
    spec: { replicas: 2 },
    status: { observedGeneration: 1, replicas: 2, availableReplicas: 2, readyReplicas: 2, ...status },
  };
}

describe("assessResourceHealth: ReplicaSet", () => {
  it("is Degraded with the message of a True ReplicaFailure condition", () => {
    const obj = replicaSet({
      availableReplicas: 0,
      conditions: [
        {
          type: "ReplicaFailure",
          status: "True",
          reason: "FailedCreate",
          message: 'pods "web-7d9-x" is forbidden',
        },
      ],
    });
    assert.deepEqual(assessResourceHealth(obj), {
      status: "Degraded",
      message: 'pods "web-7d9-x" is forbidden',
    });
  });
  it("is Progressing while fewer replicas are available than desired", () => {
    assert.equal(statusOf(replicaSet({ availableReplicas: 1 })), "Progressing");
  });
  it("is Healthy when all replicas are available", () => {
    assert.equal(statusOf(replicaSet({})), "Healthy");
  });
  it("is Progressing when the generation is not yet observed", () => {
    assert.equal(statusOf(replicaSet({}, 2)), "Progressing");
  });
});

function pod(spec: Obj, status: Obj, annotations?: Obj): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web-7d9-abcde", annotations },
    spec: { restartPolicy: "Always", containers: [{ name: "web", image: "nginx" }], ...spec },
    status,
  };
}

const crashLooping = {
  phase: "Running",
  containerStatuses: [
    {
      name: "web",
      ready: false,
      restartCount: 5,
      state: {
        waiting: { reason: "CrashLoopBackOff", message: "back-off 5m0s restarting failed container" },
      },
      lastState: { terminated: { exitCode: 1, reason: "Error" } },
    },
  ],
};

describe("assessResourceHealth: Pod", () => {
  it("is Degraded when a container waits in CrashLoopBackOff under restartPolicy Always", () => {
    assert.deepEqual(assessResourceHealth(pod({}, crashLooping)), {
      status: "Degraded",
      message: "back-off 5m0s restarting failed container",
    });
  });
  it("is Degraded when a container waits with an Err* reason (ErrImagePull)", () => {
    const status = {
      phase: "Pending",
      containerStatuses: [
        { name: "web", state: { waiting: { reason: "ErrImagePull", message: "pull failed" } } },
      ],
    };
    assert.equal(statusOf(pod({}, status)), "Degraded");
  });
  it("does not check waiting reasons for restartPolicy Never (hook pods)", () => {
    const status = {
      phase: "Pending",
      containerStatuses: [{ name: "web", state: { waiting: { reason: "ImagePullBackOff" } } }],
    };
    assert.equal(statusOf(pod({ restartPolicy: "Never" }, status)), "Progressing");
  });
  it("honours ignore-restart-policy for a non-hook pod", () => {
    const obj = pod({ restartPolicy: "Never" }, crashLooping, {
      "argocd.argoproj.io/ignore-restart-policy": "true",
    });
    assert.equal(statusOf(obj), "Degraded");
  });
  it("is Progressing in phase Pending", () => {
    assert.equal(statusOf(pod({}, { phase: "Pending" })), "Progressing");
  });
  it("is Healthy in phase Succeeded", () => {
    assert.equal(statusOf(pod({ restartPolicy: "Never" }, { phase: "Succeeded" })), "Healthy");
  });
  it("is Degraded in phase Failed with status.message", () => {
    const obj = pod(
      { restartPolicy: "Never" },
      { phase: "Failed", message: "Pod was evicted", reason: "Evicted" },
    );
    assert.deepEqual(assessResourceHealth(obj), { status: "Degraded", message: "Pod was evicted" });
  });
  it("is Degraded in phase Failed with OOMKilled from a terminated container", () => {
    const obj = pod(
      { restartPolicy: "Never" },
      {
        phase: "Failed",
        containerStatuses: [{ name: "web", state: { terminated: { reason: "OOMKilled", exitCode: 137 } } }],
      },
    );
    assert.deepEqual(assessResourceHealth(obj), { status: "Degraded", message: "OOMKilled" });
  });
  it("is Degraded in phase Failed with the exit code of the first failed init container", () => {
    const obj = pod(
      { restartPolicy: "Never" },
      {
        phase: "Failed",
        initContainerStatuses: [{ name: "migrate", state: { terminated: { reason: "Error", exitCode: 2 } } }],
      },
    );
    assert.deepEqual(assessResourceHealth(obj), {
      status: "Degraded",
      message: 'container "migrate" failed with exit code 2',
    });
  });
  it("is Healthy when Running and Ready under restartPolicy Always", () => {
    const status = { phase: "Running", conditions: [{ type: "Ready", status: "True" }] };
    assert.equal(statusOf(pod({}, status)), "Healthy");
  });
  it("is Degraded when Running, not Ready, and a container terminated before", () => {
    const status = {
      phase: "Running",
      conditions: [{ type: "Ready", status: "False" }],
      containerStatuses: [
        { name: "web", state: { running: {} }, lastState: { terminated: { exitCode: 1, reason: "Error" } } },
      ],
    };
    assert.equal(statusOf(pod({}, status)), "Degraded");
  });
  it("is Progressing when Running and not yet Ready without earlier terminations", () => {
    const status = {
      phase: "Running",
      conditions: [{ type: "Ready", status: "False" }],
      containerStatuses: [{ name: "web", state: { running: {} }, lastState: {} }],
    };
    assert.equal(statusOf(pod({}, status)), "Progressing");
  });
  it("is Progressing when Running under restartPolicy OnFailure, even if Ready", () => {
    const status = { phase: "Running", conditions: [{ type: "Ready", status: "True" }] };
    assert.equal(statusOf(pod({ restartPolicy: "OnFailure" }, status)), "Progressing");
  });
  it("is Unknown in phase Unknown", () => {
    assert.equal(statusOf(pod({}, { phase: "Unknown" })), "Unknown");
  });
});

describe("assessResourceHealth: Service", () => {
  const service = (type: string, status: Obj = {}): Obj => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web" },
    spec: { type, ports: [{ port: 80 }] },
    status,
  });
  it("is Healthy for ClusterIP", () => {
    assert.equal(statusOf(service("ClusterIP")), "Healthy");
  });
  it("is Progressing for a LoadBalancer without ingress", () => {
    assert.equal(statusOf(service("LoadBalancer", { loadBalancer: {} })), "Progressing");
  });
  it("is Healthy for a LoadBalancer with ingress", () => {
    assert.equal(
      statusOf(service("LoadBalancer", { loadBalancer: { ingress: [{ ip: "203.0.113.7" }] } })),
      "Healthy",
    );
  });
});

describe("assessResourceHealth: Ingress", () => {
  const ingress = (apiVersion: string, status: Obj): Obj => ({
    apiVersion,
    kind: "Ingress",
    metadata: { name: "web" },
    spec: { rules: [{ host: "shop.example.com" }] },
    status,
  });
  it("is Healthy with a load balancer ingress (networking.k8s.io)", () => {
    assert.equal(
      statusOf(
        ingress("networking.k8s.io/v1", { loadBalancer: { ingress: [{ hostname: "lb.example.com" }] } }),
      ),
      "Healthy",
    );
  });
  it("is Progressing without a load balancer ingress (extensions)", () => {
    assert.equal(statusOf(ingress("extensions/v1beta1", { loadBalancer: {} })), "Progressing");
  });
});

describe("assessResourceHealth: PersistentVolumeClaim", () => {
  const pvc = (phase?: string): Obj => ({
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: "data" },
    spec: { accessModes: ["ReadWriteOnce"] },
    status: phase ? { phase } : {},
  });
  it("is Degraded when Lost", () => assert.equal(statusOf(pvc("Lost")), "Degraded"));
  it("is Progressing when Pending", () => assert.equal(statusOf(pvc("Pending")), "Progressing"));
  it("is Healthy when Bound", () => assert.equal(statusOf(pvc("Bound")), "Healthy"));
  it("is Unknown without a phase", () => assert.equal(statusOf(pvc()), "Unknown"));
});

describe("assessResourceHealth: Job", () => {
  const job = (conditions: Obj[]): Obj => ({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "migrate" },
    spec: { template: {} },
    status: { startTime: "2024-05-01T10:00:00Z", active: 1, conditions },
  });
  it("is Progressing while no terminal condition exists", () => {
    assert.equal(statusOf(job([])), "Progressing");
  });
  it("is Degraded with the message of a Failed condition", () => {
    const obj = job([
      {
        type: "Failed",
        status: "True",
        reason: "BackoffLimitExceeded",
        message: "Job has reached the specified backoff limit",
      },
    ]);
    assert.deepEqual(assessResourceHealth(obj), {
      status: "Degraded",
      message: "Job has reached the specified backoff limit",
    });
  });
  it("does not check condition status for Failed (status False still Degraded)", () => {
    assert.equal(statusOf(job([{ type: "Failed", status: "False" }])), "Degraded");
  });
  it("is Healthy with a Complete condition", () => {
    assert.equal(statusOf(job([{ type: "Complete", status: "True" }])), "Healthy");
  });
  it("is Suspended with a True Suspended condition", () => {
    const obj = job([
      { type: "Suspended", status: "True", reason: "JobSuspended", message: "Job suspended" },
    ]);
    assert.deepEqual(assessResourceHealth(obj), { status: "Suspended", message: "Job suspended" });
  });
  it("is Healthy with a False Suspended condition (resumed)", () => {
    assert.equal(statusOf(job([{ type: "Suspended", status: "False", reason: "JobResumed" }])), "Healthy");
  });
});

describe("assessResourceHealth: CronJob", () => {
  const cronJob = (spec: Obj, status?: Obj): Obj => ({
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: "report" },
    spec: { schedule: "0 * * * *", ...spec },
    ...(status ? { status } : {}),
  });
  it("is Healthy when suspended, whatever the history", () => {
    assert.equal(
      statusOf(
        cronJob(
          { suspend: true },
          { lastScheduleTime: "2024-05-01T10:00:00Z", lastSuccessfulTime: "2024-05-01T09:00:00Z" },
        ),
      ),
      "Healthy",
    );
  });
  it("is Progressing without a status", () => {
    assert.equal(statusOf(cronJob({})), "Progressing");
  });
  it("is Healthy when never scheduled", () => {
    assert.equal(statusOf(cronJob({}, {})), "Healthy");
  });
  it("is Healthy when scheduled but never successful", () => {
    assert.equal(statusOf(cronJob({}, { lastScheduleTime: "2024-05-01T10:00:00Z" })), "Healthy");
  });
  it("is Healthy with active jobs even if the last success is older", () => {
    const status = {
      lastScheduleTime: "2024-05-01T10:00:00Z",
      lastSuccessfulTime: "2024-05-01T09:00:05Z",
      active: [{ kind: "Job", name: "report-28574" }],
    };
    assert.equal(statusOf(cronJob({}, status)), "Healthy");
  });
  it("is Degraded when the last success is older than the last schedule", () => {
    const status = { lastScheduleTime: "2024-05-01T10:00:00Z", lastSuccessfulTime: "2024-05-01T09:00:05Z" };
    assert.equal(statusOf(cronJob({}, status)), "Degraded");
  });
  it("is Healthy when the last run succeeded", () => {
    const status = { lastScheduleTime: "2024-05-01T10:00:00Z", lastSuccessfulTime: "2024-05-01T10:00:07Z" };
    assert.equal(statusOf(cronJob({}, status)), "Healthy");
  });
});

describe("assessResourceHealth: HorizontalPodAutoscaler", () => {
  const v2 = (conditions: Obj[]): Obj => ({
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: "web" },
    spec: { minReplicas: 2, maxReplicas: 10 },
    status: { currentReplicas: 2, desiredReplicas: 2, conditions },
  });
  const v1 = (annotation?: string): Obj => ({
    apiVersion: "autoscaling/v1",
    kind: "HorizontalPodAutoscaler",
    metadata: {
      name: "web",
      annotations:
        annotation === undefined ? {} : { "autoscaling.alpha.kubernetes.io/conditions": annotation },
    },
    spec: { minReplicas: 2, maxReplicas: 10 },
  });
  it("is Progressing 'Waiting to Autoscale' when the v1 conditions annotation is missing", () => {
    assert.deepEqual(assessResourceHealth(v1()), { status: "Progressing", message: "Waiting to Autoscale" });
  });
  it("reads v1 conditions from the annotation", () => {
    const annotation = JSON.stringify([
      {
        type: "AbleToScale",
        status: "True",
        reason: "ReadyForNewScale",
        message: "recommended size matches",
      },
    ]);
    assert.equal(statusOf(v1(annotation)), "Healthy");
  });
  it("is Degraded for AbleToScale/FailedGetScale", () => {
    const obj = v2([
      { type: "AbleToScale", status: "False", reason: "FailedGetScale", message: "no scale subresource" },
    ]);
    assert.deepEqual(assessResourceHealth(obj), { status: "Degraded", message: "no scale subresource" });
  });
  it("is Degraded for ScalingActive/FailedGetResourceMetric", () => {
    const obj = v2([
      { type: "ScalingActive", status: "False", reason: "FailedGetResourceMetric", message: "no metrics" },
    ]);
    assert.equal(statusOf(obj), "Degraded");
  });
  it("lets the first matching condition win (Healthy AbleToScale before a degraded ScalingActive)", () => {
    const obj = v2([
      { type: "AbleToScale", status: "True", reason: "ReadyForNewScale" },
      { type: "ScalingActive", status: "False", reason: "FailedGetResourceMetric" },
    ]);
    assert.equal(statusOf(obj), "Healthy");
  });
  it("is Healthy for ScalingLimited True", () => {
    assert.equal(
      statusOf(v2([{ type: "ScalingLimited", status: "True", reason: "TooFewReplicas" }])),
      "Healthy",
    );
  });
  it("is Progressing when no condition matches", () => {
    assert.equal(
      statusOf(v2([{ type: "ScalingActive", status: "True", reason: "ValidMetricFound" }])),
      "Progressing",
    );
  });
});

describe("assessResourceHealth: APIService", () => {
  const apiService = (conditions?: Obj[]): Obj => ({
    apiVersion: "apiregistration.k8s.io/v1",
    kind: "APIService",
    metadata: { name: "v1beta1.metrics.k8s.io" },
    spec: { group: "metrics.k8s.io", version: "v1beta1" },
    status: conditions ? { conditions } : {},
  });
  it("is Healthy when Available is True", () => {
    assert.equal(statusOf(apiService([{ type: "Available", status: "True", reason: "Passed" }])), "Healthy");
  });
  it("is Progressing when Available is False", () => {
    const obj = apiService([
      { type: "Available", status: "False", reason: "MissingEndpoints", message: "no endpoints" },
    ]);
    assert.deepEqual(assessResourceHealth(obj), { status: "Progressing", message: "no endpoints" });
  });
  it("is Progressing 'Waiting to be processed' without an Available condition", () => {
    assert.deepEqual(assessResourceHealth(apiService()), {
      status: "Progressing",
      message: "Waiting to be processed",
    });
  });
});

describe("assessResourceHealth: kinds without a built-in check", () => {
  const certificate = (status?: Obj, generation = 1): Obj => ({
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "shop-tls", generation },
    spec: { secretName: "shop-tls" },
    ...(status ? { status } : {}),
  });
  it("has no health without conditions", () => {
    assert.equal(assessResourceHealth(certificate()), undefined);
    assert.equal(
      assessResourceHealth({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cfg" } }),
      undefined,
    );
  });
  it("is Progressing when observedGeneration is behind generation", () => {
    const obj = certificate({ observedGeneration: 1, conditions: [{ type: "Ready", status: "True" }] }, 2);
    assert.equal(statusOf(obj), "Progressing");
  });
  it("is Healthy when Ready is True", () => {
    assert.equal(statusOf(certificate({ conditions: [{ type: "Ready", status: "True" }] })), "Healthy");
  });
  it("is Degraded with the message when Ready is False", () => {
    const obj = certificate({
      conditions: [{ type: "Ready", status: "False", reason: "Failed", message: "issuer not found" }],
    });
    assert.deepEqual(assessResourceHealth(obj), { status: "Degraded", message: "issuer not found" });
  });
  it("is Progressing when Ready is False with a progress reason", () => {
    const obj = certificate({
      conditions: [{ type: "Ready", status: "False", reason: "Progressing", message: "issuing" }],
    });
    assert.equal(statusOf(obj), "Progressing");
  });
  it("uses Available when there is no Ready condition", () => {
    assert.equal(
      statusOf(certificate({ conditions: [{ type: "Available", status: "False", reason: "Down" }] })),
      "Degraded",
    );
  });
});

describe("isWorse", () => {
  it("orders Healthy < Suspended < Progressing < Missing < Degraded < Unknown", () => {
    const order = ["Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"] as const;
    for (let i = 0; i + 1 < order.length; i++) {
      assert.equal(isWorse(order[i] as Health["status"], order[i + 1] as Health["status"]), true);
      assert.equal(isWorse(order[i + 1] as Health["status"], order[i] as Health["status"]), false);
    }
    assert.equal(isWorse("Degraded", "Degraded"), false);
  });
});

describe("aggregateAppHealth", () => {
  it("is Healthy for an empty list", () => {
    assert.deepEqual(aggregateAppHealth([]), { status: "Healthy" });
  });
  it("takes the worst status with its message", () => {
    const app = aggregateAppHealth([
      { health: { status: "Healthy" } },
      { health: { status: "Degraded", message: "crash" } },
      { health: { status: "Progressing" } },
    ]);
    assert.deepEqual(app, { status: "Degraded", message: "crash" });
  });
  it("skips hooks, ignored resources and resources without health", () => {
    const app = aggregateAppHealth([
      { health: { status: "Healthy" } },
      { health: { status: "Degraded" }, hook: true },
      { health: { status: "Unknown" }, ignored: true },
      {},
    ]);
    assert.deepEqual(app, { status: "Healthy" });
  });
  it("does not let a Missing resource worsen the app", () => {
    const app = aggregateAppHealth([
      { health: { status: "Progressing" } },
      { health: { status: "Missing" } },
    ]);
    assert.equal(app.status, "Progressing");
  });
  it("is Missing when every resource is missing", () => {
    assert.deepEqual(
      aggregateAppHealth([{ health: { status: "Missing" } }, { health: { status: "Missing" } }]),
      {
        status: "Missing",
      },
    );
  });
});

describe("assessResourceHealth: CustomResourceDefinition", () => {
  const crd = (conditions: object[]) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "widgets.example.com" },
    status: { conditions },
  });

  it("is Healthy once Established", () => {
    const established = crd([
      { type: "NamesAccepted", status: "True", reason: "NoConflicts" },
      { type: "Established", status: "True", reason: "InitialNamesAccepted" },
    ]);
    assert.equal(assessResourceHealth(established)?.status, "Healthy");
  });

  it("is Degraded when its names conflict with another CRD", () => {
    const conflict = crd([
      {
        type: "NamesAccepted",
        status: "False",
        reason: "ListKindConflict",
        message: '"WidgetList" is already in use',
      },
    ]);
    assert.deepEqual(assessResourceHealth(conflict), {
      status: "Degraded",
      message: '"WidgetList" is already in use',
    });
  });

  it("is Progressing while it is being installed or has no status yet", () => {
    const installing = crd([
      { type: "Established", status: "False", reason: "Installing", message: "installing" },
    ]);
    assert.equal(assessResourceHealth(installing)?.status, "Progressing");
    assert.equal(assessResourceHealth(crd([]))?.status, "Progressing");
  });
});
