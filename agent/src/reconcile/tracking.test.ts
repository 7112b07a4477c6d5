import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubeObject } from "../kube/kube-object.js";
import {
  formatTrackingId,
  isTrackedBy,
  parseTrackingId,
  stampTracking,
  TRACKING_ANNOTATION,
  trackingAppOf,
} from "./tracking.js";

const service: KubeObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "guestbook-ui", namespace: "guestbook" },
  spec: { ports: [{ port: 80, targetPort: 80 }], selector: { app: "guestbook-ui" } },
};
const deployment: KubeObject = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "guestbook-ui" },
  spec: { replicas: 1 },
};
const clusterRole: KubeObject = {
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRole",
  metadata: { name: "reader" },
  rules: [],
};
const crd: KubeObject = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "rollouts.argoproj.io" },
  spec: { group: "argoproj.io", names: { kind: "Rollout" } },
};

function annotated(obj: KubeObject, id: string, extra: Partial<KubeObject["metadata"]> = {}): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, ...extra, annotations: { [TRACKING_ANNOTATION]: id } } };
}

describe("formatTrackingId", () => {
  it("formats a core-group object with an empty group, as guestbook:/Service:guestbook/guestbook-ui", () => {
    assert.equal(
      formatTrackingId("guestbook", service, "elsewhere"),
      "guestbook:/Service:guestbook/guestbook-ui",
    );
  });

  it("uses the destination namespace for an object without one", () => {
    assert.equal(
      formatTrackingId("guestbook", deployment, "guestbook"),
      "guestbook:apps/Deployment:guestbook/guestbook-ui",
    );
  });

  it("uses the destination namespace for cluster-scoped objects too", () => {
    assert.equal(
      formatTrackingId("example.sync-waves", clusterRole, "sync-waves"),
      "example.sync-waves:rbac.authorization.k8s.io/ClusterRole:sync-waves/reader",
    );
  });
});

describe("parseTrackingId", () => {
  it("parses the parts of an id", () => {
    assert.deepEqual(parseTrackingId("guestbook:apps/Deployment:guestbook/guestbook-ui"), {
      app: "guestbook",
      group: "apps",
      kind: "Deployment",
      namespace: "guestbook",
      name: "guestbook-ui",
    });
  });

  it("round-trips what formatTrackingId writes", () => {
    const id = formatTrackingId("argocd_guestbook", service, "guestbook");
    assert.equal(parseTrackingId(id)?.app, "argocd_guestbook");
    assert.equal(formatTrackingId("argocd_guestbook", service, "guestbook"), id);
  });

  it("rejects ids without three colon-separated parts or two slash-separated pieces", () => {
    assert.equal(parseTrackingId("guestbook"), undefined);
    assert.equal(parseTrackingId("guestbook:apps/Deployment"), undefined);
    assert.equal(parseTrackingId("guestbook:Deployment:guestbook/ui"), undefined);
    assert.equal(parseTrackingId("guestbook:apps/Deployment:ui"), undefined);
    assert.equal(parseTrackingId("guestbook:a/b/c:ns/ui"), undefined);
  });
});

describe("isTrackedBy", () => {
  it("accepts an object carrying the app's id for itself", () => {
    assert.equal(
      isTrackedBy(annotated(service, "guestbook:/Service:guestbook/guestbook-ui"), "guestbook"),
      true,
    );
  });

  it("rejects an object tracked by another app", () => {
    assert.equal(
      isTrackedBy(annotated(service, "other:/Service:guestbook/guestbook-ui"), "guestbook"),
      false,
    );
  });

  it("rejects an object whose id was copied from another object", () => {
    const copied = annotated(
      { ...service, metadata: { ...service.metadata, name: "copy" } },
      "guestbook:/Service:guestbook/guestbook-ui",
    );
    assert.equal(isTrackedBy(copied, "guestbook"), false);
    assert.equal(
      isTrackedBy(annotated(service, "guestbook:apps/Service:guestbook/guestbook-ui"), "guestbook"),
      false,
    );
    assert.equal(
      isTrackedBy(annotated(service, "guestbook:/Secret:guestbook/guestbook-ui"), "guestbook"),
      false,
    );
    assert.equal(
      isTrackedBy(annotated(service, "guestbook:/Service:other/guestbook-ui"), "guestbook"),
      false,
    );
  });

  it("accepts a cluster-scoped live object whose id carries the destination namespace", () => {
    const live = annotated(clusterRole, "app:rbac.authorization.k8s.io/ClusterRole:sync-waves/reader");
    assert.equal(isTrackedBy(live, "app"), true);
  });

  it("rejects an object with ownerReferences", () => {
    const child = annotated(service, "guestbook:/Service:guestbook/guestbook-ui", {
      ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "x", uid: "1" }],
    });
    assert.equal(isTrackedBy(child, "guestbook"), false);
  });

  it("rejects an object without the annotation or with a malformed one", () => {
    assert.equal(isTrackedBy(service, "guestbook"), false);
    assert.equal(isTrackedBy(annotated(service, "guestbook"), "guestbook"), false);
  });
});

describe("trackingAppOf", () => {
  it("returns the app of a well-formed id and undefined otherwise", () => {
    assert.equal(trackingAppOf(annotated(service, "shop:/Service:guestbook/other")), "shop");
    assert.equal(trackingAppOf(annotated(service, "shop")), undefined);
    assert.equal(trackingAppOf(service), undefined);
  });
});

describe("stampTracking", () => {
  it("adds the annotation to a copy, keeping other annotations", () => {
    const withNote: KubeObject = {
      ...deployment,
      metadata: { ...deployment.metadata, annotations: { note: "x" } },
    };
    const stamped = stampTracking(withNote, "guestbook", "guestbook");
    assert.deepEqual(stamped.metadata.annotations, {
      note: "x",
      [TRACKING_ANNOTATION]: "guestbook:apps/Deployment:guestbook/guestbook-ui",
    });
    assert.deepEqual(withNote.metadata.annotations, { note: "x" });
    assert.equal(isTrackedBy(stamped, "guestbook"), true);
  });

  it("leaves a CustomResourceDefinition untouched", () => {
    assert.equal(stampTracking(crd, "blue-green", "blue-green"), crd);
  });
});
