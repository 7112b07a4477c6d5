import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubeObject } from "../kube/kube-object.js";
import {
  DEFAULT_SYNC_OPTIONS,
  parseSyncOptions,
  resourceSyncOptionProblems,
  resourceSyncOptions,
  SYNC_OPTIONS_ANNOTATION,
} from "./sync-options.js";

function configMap(syncOptions?: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: "settings",
      namespace: "guestbook",
      ...(syncOptions === undefined ? {} : { annotations: { [SYNC_OPTIONS_ANNOTATION]: syncOptions } }),
    },
    data: { mode: "blue" },
  };
}

describe("parseSyncOptions", () => {
  it("defaults to server-side apply, prune with Foreground propagation and validation on", () => {
    const { options, problems } = parseSyncOptions([]);
    assert.deepEqual(problems, []);
    assert.deepEqual(options, DEFAULT_SYNC_OPTIONS);
    assert.equal(options.serverSideApply, true);
    assert.equal(options.prune, true);
    assert.equal(options.prunePropagationPolicy, "Foreground");
    assert.equal(options.validate, true);
    assert.equal(options.createNamespace, false);
  });

  it("reads the options the argocd-example-apps root app sets", () => {
    const { options, problems } = parseSyncOptions(["CreateNamespace=true"]);
    assert.deepEqual(problems, []);
    assert.equal(options.createNamespace, true);
  });

  it("reads every documented option", () => {
    const { options, problems } = parseSyncOptions([
      "ServerSideApply=false",
      "Replace=true",
      "Force=true",
      "Validate=false",
      "ApplyOutOfSyncOnly=true",
      "PruneLast=true",
      "PrunePropagationPolicy=orphan",
      "RespectIgnoreDifferences=true",
      "SkipDryRunOnMissingResource=true",
      "FailOnSharedResource=true",
      "Delete=false",
      "ClientSideApplyMigration=false",
    ]);
    assert.deepEqual(problems, []);
    assert.deepEqual(options, {
      ...DEFAULT_SYNC_OPTIONS,
      serverSideApply: false,
      replace: true,
      force: true,
      validate: false,
      applyOutOfSyncOnly: true,
      pruneLast: true,
      prunePropagationPolicy: "Orphan",
      respectIgnoreDifferences: true,
      skipDryRunOnMissingResource: true,
      failOnSharedResource: true,
      delete: false,
      clientSideApplyMigration: false,
    });
  });

  it("turns pruning off with Prune=false", () => {
    const { options } = parseSyncOptions(["Prune=false"]);
    assert.equal(options.prune, false);
    assert.equal(options.pruneConfirm, false);
  });

  it("asks for confirmation with Prune=confirm", () => {
    const { options } = parseSyncOptions(["Prune=confirm"]);
    assert.equal(options.prune, true);
    assert.equal(options.pruneConfirm, true);
  });

  it("maps each propagation policy", () => {
    for (const [value, policy] of [
      ["foreground", "Foreground"],
      ["background", "Background"],
      ["orphan", "Orphan"],
    ]) {
      assert.equal(
        parseSyncOptions([`PrunePropagationPolicy=${value}`]).options.prunePropagationPolicy,
        policy,
      );
    }
  });

  it("matches values case-insensitively and ignores surrounding spaces", () => {
    const { options, problems } = parseSyncOptions([
      " CreateNamespace=True ",
      "PrunePropagationPolicy=Background",
    ]);
    assert.deepEqual(problems, []);
    assert.equal(options.createNamespace, true);
    assert.equal(options.prunePropagationPolicy, "Background");
  });

  it("reports an unknown option by name and still parses the rest", () => {
    const { options, problems } = parseSyncOptions(["CreateNamespaces=true", "PruneLast=true"]);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /CreateNamespaces=true/);
    assert.match(problems[0] ?? "", /unknown option CreateNamespaces/);
    assert.equal(options.pruneLast, true);
  });

  it("reports an invalid value and keeps the default", () => {
    const { options, problems } = parseSyncOptions(["Prune=maybe", "PrunePropagationPolicy=cascade"]);
    assert.equal(problems.length, 2);
    assert.match(problems[0] ?? "", /Prune=maybe.*false, confirm/);
    assert.equal(options.prune, true);
    assert.equal(options.prunePropagationPolicy, "Foreground");
  });

  it("reports an option without a value", () => {
    const { problems } = parseSyncOptions(["CreateNamespace"]);
    assert.deepEqual(problems, ['sync option "CreateNamespace": expected Key=value']);
  });

  it("lets a later option override an earlier one", () => {
    assert.equal(
      parseSyncOptions(["ServerSideApply=false", "ServerSideApply=true"]).options.serverSideApply,
      true,
    );
  });
});

describe("resourceSyncOptions", () => {
  const app = parseSyncOptions(["CreateNamespace=true", "ServerSideApply=true"]).options;

  it("returns the app's options when the object has no annotation", () => {
    assert.deepEqual(resourceSyncOptions(app, configMap()), app);
  });

  it("turns server-side apply off for one resource with ServerSideApply=false", () => {
    assert.equal(resourceSyncOptions(app, configMap("ServerSideApply=false")).serverSideApply, false);
  });

  it("reads a comma-separated list with spaces, as in Force=true,Replace=true", () => {
    const options = resourceSyncOptions(app, configMap("Force=true, Replace=true ,Validate=false"));
    assert.equal(options.force, true);
    assert.equal(options.replace, true);
    assert.equal(options.validate, false);
  });

  it("lets a resource opt out of pruning and into PruneLast", () => {
    const options = resourceSyncOptions(app, configMap("Prune=false,PruneLast=true"));
    assert.equal(options.prune, false);
    assert.equal(options.pruneLast, true);
  });

  it("lets a resource require prune confirmation", () => {
    assert.equal(resourceSyncOptions(app, configMap("Prune=confirm")).pruneConfirm, true);
  });

  it("lets a resource set SkipDryRunOnMissingResource and Delete=false", () => {
    const options = resourceSyncOptions(app, configMap("SkipDryRunOnMissingResource=true,Delete=false"));
    assert.equal(options.skipDryRunOnMissingResource, true);
    assert.equal(options.delete, false);
  });

  it("ignores app-level-only options in the annotation", () => {
    const options = resourceSyncOptions(
      parseSyncOptions([]).options,
      configMap("CreateNamespace=true,PrunePropagationPolicy=orphan,RespectIgnoreDifferences=true"),
    );
    assert.deepEqual(options, DEFAULT_SYNC_OPTIONS);
  });

  it("does not change the app's options", () => {
    resourceSyncOptions(app, configMap("Replace=true"));
    assert.equal(app.replace, false);
  });
});

describe("resourceSyncOptionProblems", () => {
  it("names app-only and unknown options in an annotation", () => {
    const problems = resourceSyncOptionProblems(configMap("CreateNamespace=true,Bogus=1,Replace=true"));
    assert.equal(problems.length, 2);
    assert.match(problems[0] ?? "", /CreateNamespace applies to the whole app only/);
    assert.match(problems[1] ?? "", /unknown option Bogus/);
  });
});
