import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../kube/kube-object.js";
import { groupIntoSteps, hookOf, planSync, type SyncTask, waveOf } from "./plan-sync.js";

function manifests(text: string, namespace = ""): KubeObject[] {
  return parseAllDocuments(text).map((doc) => {
    const obj = doc.toJS() as KubeObject;
    return namespace && !obj.metadata.namespace ? { ...obj, metadata: { ...obj.metadata, namespace } } : obj;
  });
}

function obj(
  kind: string,
  name: string,
  extra: {
    apiVersion?: string;
    namespace?: string;
    annotations?: Record<string, string>;
    spec?: unknown;
  } = {},
): KubeObject {
  return {
    apiVersion: extra.apiVersion ?? "v1",
    kind,
    metadata: {
      name,
      ...(extra.namespace ? { namespace: extra.namespace } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    ...(extra.spec === undefined ? {} : { spec: extra.spec }),
  };
}

/** "phase/wave action Kind/name" per task: the order a reader checks against Argo CD's. */
function describeTasks(tasks: readonly SyncTask[]): string[] {
  return tasks.map((t) => `${t.phase}/${t.wave} ${t.action} ${t.object.kind}/${t.object.metadata.name}`);
}

const REVISION = "0d521c6e0498a8b9e1e8bd4e0f58ab6f67fb2b53";
const STARTED_AT_SEC = 1_757_400_000;

// argoproj/argocd-example-apps sync-waves/manifests.yaml (containers trimmed).
const SYNC_WAVES = `
apiVersion: batch/v1
kind: Job
metadata:
  generateName: upgrade-sql-schema
  annotations:
    argocd.argoproj.io/hook: PreSync
spec:
  template:
    spec:
      containers: [{ name: upgrade-sql-schema, image: alpine:3.20 }]
      restartPolicy: Never
---
apiVersion: v1
kind: Service
metadata:
  name: backend
spec:
  selector: { tier: backend }
  ports: [{ port: 8080 }]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: backend
spec:
  replicas: 1
  selector: { matchLabels: { tier: backend } }
---
apiVersion: batch/v1
kind: Job
metadata:
  name: maint-page-up
  annotations:
    argocd.argoproj.io/hook: Sync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
    argocd.argoproj.io/sync-wave: "1"
---
apiVersion: v1
kind: Service
metadata:
  name: frontend
  annotations:
    argocd.argoproj.io/sync-wave: "2"
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: frontend
  annotations:
    argocd.argoproj.io/sync-wave: "2"
---
apiVersion: batch/v1
kind: Job
metadata:
  name: maint-page-down
  annotations:
    argocd.argoproj.io/hook: Sync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
    argocd.argoproj.io/sync-wave: "3"
`;

// argoproj/argocd-example-apps helm-hooks/manifests.yaml (containers trimmed).
const HELM_HOOKS = `
apiVersion: batch/v1
kind: Job
metadata:
  generateName: upgrade-sql-schema
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-2"
---
apiVersion: batch/v1
kind: Job
metadata:
  name: maint-page-up
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
    helm.sh/hook-weight: "-1"
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: frontend
---
apiVersion: v1
kind: Service
metadata:
  name: frontend
  annotations:
    helm.sh/hook-weight: "2"
---
apiVersion: batch/v1
kind: Job
metadata:
  name: maint-page-down
  annotations:
    helm.sh/hook: post-install,post-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
`;

function plan(objects: KubeObject[], prune: KubeObject[] = [], pruneLast = false) {
  return planSync({ objects, prune, revision: REVISION, startedAtSec: STARTED_AT_SEC, pruneLast });
}

describe("hookOf", () => {
  it("returns undefined for an ordinary resource", () => {
    assert.equal(
      hookOf(obj("Service", "frontend", { annotations: { "helm.sh/hook-weight": "2" } })),
      undefined,
    );
  });

  it("reads Argo CD hook phases in execution order, without duplicates", () => {
    const hook = obj("Job", "j", { annotations: { "argocd.argoproj.io/hook": "PostSync, PreSync,PreSync" } });
    assert.deepEqual(hookOf(hook), {
      phases: ["PreSync", "PostSync"],
      deletePolicies: ["BeforeHookCreation"],
    });
  });

  it("maps Helm pre-install/pre-upgrade to PreSync and post-install/post-upgrade to PostSync", () => {
    const [pre, , , , post] = manifests(HELM_HOOKS);
    assert.deepEqual(hookOf(pre as KubeObject), {
      phases: ["PreSync"],
      deletePolicies: ["BeforeHookCreation"],
    });
    assert.deepEqual(hookOf(post as KubeObject), {
      phases: ["PostSync"],
      deletePolicies: ["BeforeHookCreation"],
    });
  });

  it("prefers the Argo CD hook annotation over helm.sh/hook", () => {
    const hook = obj("Job", "j", {
      annotations: { "argocd.argoproj.io/hook": "PostSync", "helm.sh/hook": "pre-install" },
    });
    assert.deepEqual(hookOf(hook), { phases: ["PostSync"], deletePolicies: ["BeforeHookCreation"] });
  });

  it("skips a resource whose only hook type is Skip", () => {
    assert.equal(
      hookOf(obj("ConfigMap", "c", { annotations: { "argocd.argoproj.io/hook": "Skip" } })),
      "skip",
    );
  });

  it("keeps the other phases when Skip is combined with them", () => {
    const hook = obj("Job", "j", { annotations: { "argocd.argoproj.io/hook": "Skip,PreSync" } });
    assert.deepEqual(hookOf(hook), { phases: ["PreSync"], deletePolicies: ["BeforeHookCreation"] });
  });

  it("skips a Helm hook with no phase Argo CD maps, such as test or pre-delete", () => {
    assert.equal(hookOf(obj("Pod", "test", { annotations: { "helm.sh/hook": "test" } })), "skip");
    assert.equal(hookOf(obj("Job", "cleanup", { annotations: { "helm.sh/hook": "pre-delete" } })), "skip");
  });

  it("skips an Argo CD hook annotation with no known type", () => {
    assert.equal(
      hookOf(obj("Job", "j", { annotations: { "argocd.argoproj.io/hook": "PreDelete" } })),
      "skip",
    );
  });

  it("treats helm.sh/hook: crd-install as an ordinary resource", () => {
    const crd = obj("CustomResourceDefinition", "x", {
      apiVersion: "apiextensions.k8s.io/v1",
      annotations: { "helm.sh/hook": "crd-install" },
    });
    assert.equal(hookOf(crd), undefined);
  });

  it("reads Argo CD and Helm delete policies", () => {
    const hook = obj("Job", "j", {
      annotations: {
        "argocd.argoproj.io/hook": "PostSync",
        "argocd.argoproj.io/hook-delete-policy": "HookSucceeded,Bogus",
        "helm.sh/hook-delete-policy": "hook-failed,hook-succeeded",
      },
    });
    assert.deepEqual(hookOf(hook), { phases: ["PostSync"], deletePolicies: ["HookSucceeded", "HookFailed"] });
  });
});

describe("waveOf", () => {
  it("reads argocd.argoproj.io/sync-wave", () => {
    assert.equal(waveOf(obj("Service", "s", { annotations: { "argocd.argoproj.io/sync-wave": "-3" } })), -3);
  });

  it("falls back to helm.sh/hook-weight, for non-hooks too", () => {
    assert.equal(waveOf(obj("Service", "s", { annotations: { "helm.sh/hook-weight": "2" } })), 2);
  });

  it("falls back when sync-wave is not an integer, as strconv.Atoi rejects it", () => {
    for (const value of ["1.5", " 1", "0x10", "", "1e3", "9223372036854775808"]) {
      const annotations = { "argocd.argoproj.io/sync-wave": value, "helm.sh/hook-weight": "7" };
      assert.equal(waveOf(obj("Service", "s", { annotations })), 7, value);
    }
  });

  it("accepts a leading plus sign like strconv.Atoi", () => {
    assert.equal(waveOf(obj("Service", "s", { annotations: { "argocd.argoproj.io/sync-wave": "+4" } })), 4);
  });

  it("defaults to 0", () => {
    assert.equal(waveOf(obj("Service", "s")), 0);
    assert.equal(waveOf(obj("Service", "s", { annotations: { "helm.sh/hook-weight": "heavy" } })), 0);
  });
});

describe("planSync", () => {
  it("orders the sync-waves example like Argo CD", () => {
    const { tasks, skipped } = plan(manifests(SYNC_WAVES, "sync-waves"));
    assert.deepEqual(skipped, []);
    assert.deepEqual(describeTasks(tasks), [
      `PreSync/0 hook Job/upgrade-sql-schema0d521c6-presync-${STARTED_AT_SEC}`,
      "Sync/0 apply Service/backend",
      "Sync/0 apply ReplicaSet/backend",
      "Sync/1 hook Job/maint-page-up",
      "Sync/2 apply Service/frontend",
      "Sync/2 apply ReplicaSet/frontend",
      "Sync/3 hook Job/maint-page-down",
    ]);
  });

  it("orders the helm-hooks example like Argo CD, using hook-weight as the wave", () => {
    const { tasks } = plan(manifests(HELM_HOOKS, "helm-hooks"));
    assert.deepEqual(describeTasks(tasks), [
      `PreSync/-2 hook Job/upgrade-sql-schema0d521c6-presync-${STARTED_AT_SEC}`,
      "PreSync/-1 hook Job/maint-page-up",
      "Sync/0 apply ReplicaSet/frontend",
      "Sync/2 apply Service/frontend",
      "PostSync/0 hook Job/maint-page-down",
    ]);
  });

  it("names a generateName hook with the short revision, lower-case phase and start time", () => {
    const { tasks } = plan(manifests(SYNC_WAVES, "sync-waves"));
    const hook = tasks[0]?.object;
    assert.equal(hook?.metadata.name, `upgrade-sql-schema0d521c6-presync-${STARTED_AT_SEC}`);
    assert.equal(hook?.metadata.generateName, "upgrade-sql-schema");
  });

  it("uses the whole revision in a hook name when it is shorter than 8 characters", () => {
    const hook = {
      ...obj("Job", ""),
      metadata: { generateName: "migrate-", annotations: { "argocd.argoproj.io/hook": "PostSync" } },
    };
    const { tasks } = planSync({
      objects: [hook],
      prune: [],
      revision: "ABCDEF1",
      startedAtSec: 5,
      pruneLast: false,
    });
    assert.equal(tasks[0]?.object.metadata.name, "migrate-abcdef1-postsync-5");
  });

  it("keeps a hook's own name", () => {
    const { tasks } = plan(manifests(HELM_HOOKS));
    assert.ok(tasks.some((t) => t.object.metadata.name === "maint-page-up"));
  });

  it("plans one task per phase for a hook with several phases", () => {
    const hook = {
      ...obj("Job", ""),
      metadata: { generateName: "notify-", annotations: { "argocd.argoproj.io/hook": "PreSync,PostSync" } },
    };
    const { tasks } = plan([hook]);
    assert.deepEqual(describeTasks(tasks), [
      `PreSync/0 hook Job/notify-0d521c6-presync-${STARTED_AT_SEC}`,
      `PostSync/0 hook Job/notify-0d521c6-postsync-${STARTED_AT_SEC}`,
    ]);
    assert.deepEqual(tasks[0]?.hook, {
      phases: ["PreSync", "PostSync"],
      deletePolicies: ["BeforeHookCreation"],
    });
  });

  it("returns skipped objects instead of planning them", () => {
    const skip = obj("ConfigMap", "c", { annotations: { "argocd.argoproj.io/hook": "Skip" } });
    const test = obj("Pod", "t", { annotations: { "helm.sh/hook": "test" } });
    const { tasks, skipped } = plan([skip, test, obj("ConfigMap", "kept")]);
    assert.deepEqual(skipped, [skip, test]);
    assert.deepEqual(describeTasks(tasks), ["Sync/0 apply ConfigMap/kept"]);
  });

  it("sorts by the kind order table within a wave, unknown kinds last, then by name", () => {
    const objects = [
      obj("Rollout", "a", { apiVersion: "argoproj.io/v1alpha1" }),
      obj("Deployment", "b"),
      obj("Deployment", "a"),
      obj("Ingress", "a", { apiVersion: "networking.k8s.io/v1" }),
      obj("ServiceAccount", "z"),
      obj("ClusterRole", "a", { apiVersion: "rbac.authorization.k8s.io/v1" }),
      obj("ConfigMap", "m"),
      obj("Secret", "m"),
    ];
    assert.deepEqual(describeTasks(plan(objects).tasks), [
      "Sync/0 apply ServiceAccount/z",
      "Sync/0 apply Secret/m",
      "Sync/0 apply ConfigMap/m",
      "Sync/0 apply ClusterRole/a",
      "Sync/0 apply Deployment/a",
      "Sync/0 apply Deployment/b",
      "Sync/0 apply Ingress/a",
      "Sync/0 apply Rollout/a",
    ]);
  });

  it("breaks ties on kind and name by namespace", () => {
    const objects = [obj("ConfigMap", "c", { namespace: "b" }), obj("ConfigMap", "c", { namespace: "a" })];
    assert.deepEqual(
      plan(objects).tasks.map((t) => t.object.metadata.namespace),
      ["a", "b"],
    );
  });

  it("moves a Namespace in a later wave before the first task in it, taking its phase and wave", () => {
    const objects = [
      obj("Namespace", "shop", { annotations: { "argocd.argoproj.io/sync-wave": "5" } }),
      obj("ConfigMap", "settings", {
        namespace: "shop",
        annotations: { "argocd.argoproj.io/sync-wave": "1" },
      }),
      obj("ConfigMap", "early", { namespace: "other" }),
      {
        ...obj("Job", ""),
        metadata: {
          generateName: "seed-",
          namespace: "shop",
          annotations: { "argocd.argoproj.io/hook": "PreSync" },
        },
      },
    ];
    assert.deepEqual(describeTasks(plan(objects).tasks), [
      "PreSync/0 apply Namespace/shop",
      `PreSync/0 hook Job/seed-0d521c6-presync-${STARTED_AT_SEC}`,
      "Sync/0 apply ConfigMap/early",
      "Sync/1 apply ConfigMap/settings",
    ]);
  });

  it("leaves a Namespace that already comes first where it is", () => {
    const objects = [obj("ConfigMap", "settings", { namespace: "shop" }), obj("Namespace", "shop")];
    assert.deepEqual(describeTasks(plan(objects).tasks), [
      "Sync/0 apply Namespace/shop",
      "Sync/0 apply ConfigMap/settings",
    ]);
  });

  it("moves a CRD before the first custom resource of its group and kind", () => {
    const crd = obj("CustomResourceDefinition", "rollouts.argoproj.io", {
      apiVersion: "apiextensions.k8s.io/v1",
      annotations: { "argocd.argoproj.io/sync-wave": "3" },
      spec: { group: "argoproj.io", names: { kind: "Rollout", plural: "rollouts" } },
    });
    const rollout = obj("Rollout", "blue-green", {
      apiVersion: "argoproj.io/v1alpha1",
      namespace: "blue-green",
    });
    const other = obj("Widget", "w", { apiVersion: "example.com/v1", namespace: "blue-green" });
    assert.deepEqual(describeTasks(plan([crd, other, rollout]).tasks), [
      "Sync/0 apply CustomResourceDefinition/rollouts.argoproj.io",
      "Sync/0 apply Rollout/blue-green",
      "Sync/0 apply Widget/w",
    ]);
  });

  it("mirrors prune waves so the highest wave is pruned first", () => {
    const prune = [
      obj("ConfigMap", "w0"),
      obj("ConfigMap", "w1", { annotations: { "argocd.argoproj.io/sync-wave": "1" } }),
      obj("ConfigMap", "w5", { annotations: { "argocd.argoproj.io/sync-wave": "5" } }),
    ];
    assert.deepEqual(describeTasks(plan([], prune).tasks), [
      "Sync/0 prune ConfigMap/w5",
      "Sync/1 prune ConfigMap/w1",
      "Sync/5 prune ConfigMap/w0",
    ]);
  });

  it("runs prune tasks alongside applies of the same wave", () => {
    const { tasks } = plan([obj("ConfigMap", "b")], [obj("ConfigMap", "a")]);
    assert.deepEqual(describeTasks(tasks), ["Sync/0 prune ConfigMap/a", "Sync/0 apply ConfigMap/b"]);
  });

  it("moves prune tasks after the last Sync wave with app-level PruneLast", () => {
    const objects = manifests(SYNC_WAVES, "sync-waves");
    const { tasks } = plan(objects, [obj("ConfigMap", "old", { namespace: "sync-waves" })], true);
    assert.deepEqual(describeTasks(tasks).slice(-2), [
      "Sync/3 hook Job/maint-page-down",
      "Sync/4 prune ConfigMap/old",
    ]);
  });

  it("moves only the annotated prune task with a per-resource PruneLast=true", () => {
    const prune = [
      obj("ConfigMap", "last", { annotations: { "argocd.argoproj.io/sync-options": "PruneLast=true" } }),
      obj("ConfigMap", "now"),
    ];
    const { tasks } = plan(
      [obj("Service", "s", { annotations: { "argocd.argoproj.io/sync-wave": "2" } })],
      prune,
    );
    assert.deepEqual(describeTasks(tasks), [
      "Sync/0 prune ConfigMap/now",
      "Sync/2 apply Service/s",
      "Sync/3 prune ConfigMap/last",
    ]);
  });

  it("counts the last Sync wave from 0 when all waves are negative", () => {
    const objects = [obj("Service", "s", { annotations: { "argocd.argoproj.io/sync-wave": "-5" } })];
    const { tasks } = plan(objects, [obj("ConfigMap", "old")], true);
    assert.deepEqual(describeTasks(tasks), ["Sync/-5 apply Service/s", "Sync/1 prune ConfigMap/old"]);
  });

  it("plans SyncFail hooks last with phase SyncFail", () => {
    const onFail = obj("Job", "alert", { annotations: { "argocd.argoproj.io/hook": "SyncFail" } });
    const { tasks } = plan([onFail, ...manifests(HELM_HOOKS)]);
    assert.equal(describeTasks(tasks).at(-1), "SyncFail/0 hook Job/alert");
  });

  it("does not change the input objects", () => {
    const objects = manifests(SYNC_WAVES);
    const before = structuredClone(objects);
    plan(objects, [], true);
    assert.deepEqual(objects, before);
  });
});

describe("groupIntoSteps", () => {
  it("groups the sync-waves example into one step per phase and wave", () => {
    const steps = groupIntoSteps(plan(manifests(SYNC_WAVES)).tasks);
    assert.deepEqual(
      steps.map((step) => step.map((t) => `${t.object.kind}/${t.object.metadata.name}`)),
      [
        [`Job/upgrade-sql-schema0d521c6-presync-${STARTED_AT_SEC}`],
        ["Service/backend", "ReplicaSet/backend"],
        ["Job/maint-page-up"],
        ["Service/frontend", "ReplicaSet/frontend"],
        ["Job/maint-page-down"],
      ],
    );
  });

  it("leaves out SyncFail tasks", () => {
    const tasks = plan([
      obj("ConfigMap", "c"),
      obj("Job", "alert", { annotations: { "argocd.argoproj.io/hook": "SyncFail" } }),
    ]).tasks;
    assert.deepEqual(
      groupIntoSteps(tasks).map((step) => step.length),
      [1],
    );
  });

  it("returns no steps for no tasks", () => {
    assert.deepEqual(groupIntoSteps([]), []);
  });
});
