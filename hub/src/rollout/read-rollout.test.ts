import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubeObject } from "../render/kube-object.js";
import {
  compileAppMatcher,
  isRolloutResource,
  matchesSelector,
  readAppLabels,
  readRollingSync,
  readRolloutResource,
} from "./read-rollout.js";
import { ROLLOUT_ANNOTATIONS } from "./rollout-spec.js";

function applicationSet(
  strategy: unknown,
  annotations?: Record<string, unknown>,
  name: string | null = "web",
): KubeObject {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "ApplicationSet",
    metadata: {
      ...(name !== null ? { name } : {}),
      ...(annotations ? { annotations: annotations as Record<string, string> } : {}),
    },
    spec: {
      generators: [{ clusters: {} }],
      ...(strategy !== undefined ? { strategy } : {}),
      template: { metadata: { name: "web-{{name}}" }, spec: {} },
    },
  };
}

const rollingSync = (steps: unknown) => ({ type: "RollingSync", rollingSync: { steps } });

const STAGING = { matchExpressions: [{ key: "env", operator: "In", values: ["staging"] }] };

function rollout(spec: unknown, name: string | null = "payments", apiVersion = "flotilla.dev/v1alpha1") {
  return {
    apiVersion,
    kind: "Rollout",
    metadata: name !== null ? { name } : {},
    ...(spec !== undefined ? { spec } : {}),
  } as KubeObject;
}

const GOOD_SPEC = {
  apps: { names: ["payments-*"], selector: { matchLabels: { team: "payments" } } },
  steps: [
    { name: "canary", clusters: { matchLabels: { env: "staging" } }, maxUnavailable: 1, bakeTime: "1m" },
    { clusters: { matchLabels: { env: "prod" } }, maxUnavailable: "25%", bakeTime: "5m" },
  ],
  progressDeadline: "15m",
  rollback: true,
  offlineClusters: { policy: "Skip", timeout: "10m" },
};

describe("readRollingSync", () => {
  it("reads the steps, maxUpdate and the annotations into a declaration", () => {
    const reading = readRollingSync(
      applicationSet(
        rollingSync([
          { ...STAGING, maxUpdate: 1 },
          { matchExpressions: [{ key: "env", operator: "NotIn", values: ["staging"] }], maxUpdate: "25%" },
          { matchExpressions: [{ key: "canary", operator: "Exists" }] },
          { matchExpressions: [{ key: "legacy", operator: "DoesNotExist" }], maxUpdate: 0 },
        ]),
        {
          [ROLLOUT_ANNOTATIONS.bakeTime]: "30s",
          [ROLLOUT_ANNOTATIONS.progressDeadline]: "5m",
          [ROLLOUT_ANNOTATIONS.rollback]: "true",
          [ROLLOUT_ANNOTATIONS.offline]: "skip-after=10m",
        },
      ),
      "root",
    );
    assert.deepEqual(reading, {
      declaration: {
        name: "web",
        origin: "ApplicationSet",
        declaredBy: "root",
        steps: [
          {
            name: "step-1",
            selector: { apps: { matchExpressions: [{ key: "env", operator: "In", values: ["staging"] }] } },
            maxUnavailable: { count: 1 },
            bakeTimeMs: 30_000,
          },
          {
            name: "step-2",
            selector: {
              apps: { matchExpressions: [{ key: "env", operator: "NotIn", values: ["staging"] }] },
            },
            maxUnavailable: { percent: 25 },
            bakeTimeMs: 30_000,
          },
          {
            name: "step-3",
            selector: { apps: { matchExpressions: [{ key: "canary", operator: "Exists" }] } },
            maxUnavailable: { percent: 100 },
            bakeTimeMs: 30_000,
          },
          {
            name: "step-4",
            selector: { apps: { matchExpressions: [{ key: "legacy", operator: "DoesNotExist" }] } },
            maxUnavailable: { count: 0 },
            bakeTimeMs: 30_000,
          },
        ],
        progressDeadlineMs: 300_000,
        rollback: true,
        offline: { policy: "skip", timeoutMs: 600_000 },
      },
      problems: [],
    });
  });

  it("defaults to no bake time, a 10 minute deadline, no rollback and waiting for offline clusters", () => {
    const { declaration, problems } = readRollingSync(applicationSet(rollingSync([STAGING])), "root");
    assert.deepEqual(problems, []);
    assert.deepEqual(
      {
        bake: declaration?.steps[0]?.bakeTimeMs,
        max: declaration?.steps[0]?.maxUnavailable,
        deadline: declaration?.progressDeadlineMs,
        rollback: declaration?.rollback,
        offline: declaration?.offline,
      },
      { bake: 0, max: { percent: 100 }, deadline: 600_000, rollback: false, offline: { policy: "wait" } },
    );
  });

  it("takes unquoted YAML booleans in annotations as their text", () => {
    const { declaration } = readRollingSync(
      applicationSet(rollingSync([STAGING]), { [ROLLOUT_ANNOTATIONS.rollback]: true }),
      "root",
    );
    assert.equal(declaration?.rollback, true);
  });

  it("declares nothing without a strategy, or with AllAtOnce", () => {
    assert.deepEqual(readRollingSync(applicationSet(undefined), "root"), { problems: [] });
    assert.deepEqual(readRollingSync(applicationSet({ type: "AllAtOnce" }), "root"), { problems: [] });
    assert.deepEqual(readRollingSync(applicationSet({}), "root"), { problems: [] });
  });

  const bad: [string, KubeObject, string[]][] = [
    [
      "an unknown strategy type",
      applicationSet({ type: "Canary" }),
      ['ApplicationSet web: spec.strategy.type: "Canary" is not supported (RollingSync or AllAtOnce)'],
    ],
    [
      "a strategy that is not a mapping",
      applicationSet("RollingSync"),
      ["ApplicationSet web: spec.strategy: must be a mapping"],
    ],
    [
      "no steps",
      applicationSet({ type: "RollingSync" }),
      ["ApplicationSet web: spec.strategy.rollingSync.steps: at least one step is required"],
    ],
    [
      "steps that are not a list",
      applicationSet(rollingSync({ a: 1 })),
      ["ApplicationSet web: spec.strategy.rollingSync.steps: must be a list"],
    ],
    [
      "a step that is not a mapping",
      applicationSet(rollingSync([STAGING, "prod"])),
      ["ApplicationSet web: spec.strategy.rollingSync.steps[1]: must be a mapping"],
    ],
    [
      "a step with no selector",
      applicationSet(rollingSync([STAGING, { maxUpdate: 1 }])),
      [
        "ApplicationSet web: spec.strategy.rollingSync.steps[1].matchExpressions: a step needs at least one expression to select apps",
      ],
    ],
    [
      "a step with an empty selector",
      applicationSet(rollingSync([{ matchExpressions: [] }])),
      [
        "ApplicationSet web: spec.strategy.rollingSync.steps[0].matchExpressions: a step needs at least one expression to select apps",
      ],
    ],
    [
      "an unknown operator",
      applicationSet(
        rollingSync([{ matchExpressions: [{ key: "env", operator: "Equals", values: ["a"] }] }]),
      ),
      [
        'ApplicationSet web: spec.strategy.rollingSync.steps[0].matchExpressions[0].operator: "Equals" is not In, NotIn, Exists or DoesNotExist',
      ],
    ],
    [
      "In without values",
      applicationSet(rollingSync([{ matchExpressions: [{ key: "env", operator: "In" }] }])),
      [
        "ApplicationSet web: spec.strategy.rollingSync.steps[0].matchExpressions[0].values: In needs at least one value",
      ],
    ],
    [
      "Exists with values",
      applicationSet(
        rollingSync([{ matchExpressions: [{ key: "env", operator: "Exists", values: ["a"] }] }]),
      ),
      [
        "ApplicationSet web: spec.strategy.rollingSync.steps[0].matchExpressions[0].values: Exists takes no values",
      ],
    ],
    [
      "a key that is no label key",
      applicationSet(rollingSync([{ matchExpressions: [{ key: "-env", operator: "Exists" }] }])),
      [
        `ApplicationSet web: spec.strategy.rollingSync.steps[0].matchExpressions[0].key: key "-env": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)`,
      ],
    ],
    [
      "values that are not strings",
      applicationSet(rollingSync([{ matchExpressions: [{ key: "tier", operator: "In", values: [1] }] }])),
      [
        "ApplicationSet web: spec.strategy.rollingSync.steps[0].matchExpressions[0].values: must be a list of strings",
      ],
    ],
    [
      "maxUpdate over 100%",
      applicationSet(rollingSync([STAGING, { ...STAGING, maxUpdate: "150%" }])),
      [
        'ApplicationSet web: spec.strategy.rollingSync.steps[1].maxUpdate: "150%" is not a count or a percentage up to 100%',
      ],
    ],
    [
      "a negative maxUpdate",
      applicationSet(rollingSync([{ ...STAGING, maxUpdate: -1 }])),
      [
        "ApplicationSet web: spec.strategy.rollingSync.steps[0].maxUpdate: -1 is not a count or a percentage up to 100%",
      ],
    ],
    [
      "a fractional maxUpdate",
      applicationSet(rollingSync([{ ...STAGING, maxUpdate: 1.5 }])),
      [
        "ApplicationSet web: spec.strategy.rollingSync.steps[0].maxUpdate: 1.5 is not a count or a percentage up to 100%",
      ],
    ],
    [
      "a maxUpdate that is neither",
      applicationSet(rollingSync([{ ...STAGING, maxUpdate: "all" }])),
      [
        'ApplicationSet web: spec.strategy.rollingSync.steps[0].maxUpdate: "all" is not a count or a percentage up to 100%',
      ],
    ],
    [
      "an unparsable bake time",
      applicationSet(rollingSync([STAGING]), { [ROLLOUT_ANNOTATIONS.bakeTime]: "soon" }),
      [
        'ApplicationSet web: metadata.annotations["rollout.flotilla.dev/bake-time"]: "soon" is not a duration (examples: 500ms, 30s, 3m, 1h, 7d)',
      ],
    ],
    [
      "an unparsable progress deadline",
      applicationSet(rollingSync([STAGING]), { [ROLLOUT_ANNOTATIONS.progressDeadline]: "5 minutes" }),
      [
        'ApplicationSet web: metadata.annotations["rollout.flotilla.dev/progress-deadline"]: "5 minutes" is not a duration (examples: 500ms, 30s, 3m, 1h, 7d)',
      ],
    ],
    [
      "a progress deadline of 0",
      applicationSet(rollingSync([STAGING]), { [ROLLOUT_ANNOTATIONS.progressDeadline]: "0s" }),
      [
        'ApplicationSet web: metadata.annotations["rollout.flotilla.dev/progress-deadline"]: must be longer than 0',
      ],
    ],
    [
      "a rollback that is not true or false",
      applicationSet(rollingSync([STAGING]), { [ROLLOUT_ANNOTATIONS.rollback]: "yes" }),
      [
        'ApplicationSet web: metadata.annotations["rollout.flotilla.dev/rollback"]: "yes" is not "true" or "false"',
      ],
    ],
    [
      "an unknown offline policy",
      applicationSet(rollingSync([STAGING]), { [ROLLOUT_ANNOTATIONS.offline]: "skip" }),
      [
        'ApplicationSet web: metadata.annotations["rollout.flotilla.dev/offline-clusters"]: "skip" is not "wait" or "skip-after=<duration>"',
      ],
    ],
    [
      "an unparsable skip-after",
      applicationSet(rollingSync([STAGING]), { [ROLLOUT_ANNOTATIONS.offline]: "skip-after=later" }),
      [
        'ApplicationSet web: metadata.annotations["rollout.flotilla.dev/offline-clusters"]: "later" is not a duration (examples: 500ms, 30s, 3m, 1h, 7d)',
      ],
    ],
    [
      "no name",
      applicationSet(rollingSync([STAGING]), undefined, null),
      ["ApplicationSet <unnamed>: metadata.name is required"],
    ],
  ];
  for (const [what, appSet, problems] of bad) {
    it(`reports ${what}, naming the object and the field, and declares nothing`, () => {
      assert.deepEqual(readRollingSync(appSet, "root"), { problems });
    });
  }

  it("reports every bad field of one ApplicationSet", () => {
    const reading = readRollingSync(
      applicationSet(rollingSync([{ ...STAGING, maxUpdate: "150%" }, { maxUpdate: -2 }]), {
        [ROLLOUT_ANNOTATIONS.bakeTime]: "x",
      }),
      "root",
    );
    assert.equal(reading.declaration, undefined);
    assert.equal(reading.problems.length, 4, reading.problems.join("\n"));
  });
});

describe("readRolloutResource", () => {
  it("reads apps, steps, deadline, rollback and offline policy", () => {
    assert.deepEqual(readRolloutResource(rollout(GOOD_SPEC), "apps"), {
      declaration: {
        name: "payments",
        origin: "Rollout",
        declaredBy: "apps",
        steps: [
          {
            name: "canary",
            selector: { clusters: { matchLabels: { env: "staging" } } },
            maxUnavailable: { count: 1 },
            bakeTimeMs: 60_000,
          },
          {
            name: "step-2",
            selector: { clusters: { matchLabels: { env: "prod" } } },
            maxUnavailable: { percent: 25 },
            bakeTimeMs: 300_000,
          },
        ],
        progressDeadlineMs: 900_000,
        rollback: true,
        offline: { policy: "skip", timeoutMs: 600_000 },
      },
      apps: { names: ["payments-*"], selector: { matchLabels: { team: "payments" } } },
      problems: [],
    });
  });

  it("defaults a step of {} clusters to every cluster, 100% and no bake, and the rollout to 10m, no rollback, Wait", () => {
    const { declaration, apps, problems } = readRolloutResource(
      rollout({ apps: { names: ["web"] }, steps: [{ clusters: {} }], offlineClusters: { policy: "Wait" } }),
      "apps",
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(apps, { names: ["web"] });
    assert.deepEqual(declaration?.steps, [
      { name: "step-1", selector: { clusters: {} }, maxUnavailable: { percent: 100 }, bakeTimeMs: 0 },
    ]);
    assert.deepEqual(
      [declaration?.progressDeadlineMs, declaration?.rollback, declaration?.offline],
      [600_000, false, { policy: "wait" }],
    );
  });

  it("takes a selector alone as the apps matcher", () => {
    const { apps } = readRolloutResource(
      rollout({
        apps: { selector: { matchExpressions: [{ key: "team", operator: "In", values: ["a", "b"] }] } },
        steps: [{ clusters: {} }],
      }),
      "apps",
    );
    assert.deepEqual(apps, {
      selector: { matchExpressions: [{ key: "team", operator: "In", values: ["a", "b"] }] },
    });
  });

  const step = { clusters: {} };
  const bad: [string, KubeObject, string[]][] = [
    ["no spec", rollout(undefined), ["Rollout payments: spec is required"]],
    [
      "no name",
      rollout({ apps: { names: ["a"] }, steps: [step] }, null),
      ["Rollout <unnamed>: metadata.name is required"],
    ],
    [
      "another version",
      rollout({ apps: { names: ["a"] }, steps: [step] }, "payments", "flotilla.dev/v2"),
      ['Rollout payments: apiVersion "flotilla.dev/v2" is not supported (flotilla.dev/v1alpha1)'],
    ],
    [
      "no apps matcher",
      rollout({ steps: [step] }),
      ["Rollout payments: spec.apps: names or selector is required"],
    ],
    [
      "an empty names list and no selector",
      rollout({ apps: { names: [] }, steps: [step] }),
      ["Rollout payments: spec.apps: names or selector is required"],
    ],
    [
      "names that are not a list",
      rollout({ apps: { names: "payments-*" }, steps: [step] }),
      ["Rollout payments: spec.apps.names: must be a list of globs"],
    ],
    [
      "a malformed glob",
      rollout({ apps: { names: ["ok-*", "[unclosed"] }, steps: [step] }),
      ['Rollout payments: spec.apps.names[1]: "[unclosed" is not a glob'],
    ],
    [
      "a bad app selector",
      rollout({ apps: { selector: { matchLabels: { team: 3 } } }, steps: [step] }),
      ['Rollout payments: spec.apps.selector.matchLabels: value of "team" must be a string'],
    ],
    [
      "no steps",
      rollout({ apps: { names: ["a"] } }),
      ["Rollout payments: spec.steps: at least one step is required"],
    ],
    [
      "an empty steps list",
      rollout({ apps: { names: ["a"] }, steps: [] }),
      ["Rollout payments: spec.steps: at least one step is required"],
    ],
    [
      "a step with no selector",
      rollout({ apps: { names: ["a"] }, steps: [step, { maxUnavailable: 1 }] }),
      [
        "Rollout payments: spec.steps[1].clusters: a step needs a cluster selector ({} selects every cluster)",
      ],
    ],
    [
      "a cluster selector that is not a mapping",
      rollout({ apps: { names: ["a"] }, steps: [{ clusters: "env=prod" }] }),
      ["Rollout payments: spec.steps[0].clusters: must be a label selector (matchLabels, matchExpressions)"],
    ],
    [
      "an unknown operator in a cluster selector",
      rollout({
        apps: { names: ["a"] },
        steps: [{ clusters: { matchExpressions: [{ key: "env", operator: "in", values: ["prod"] }] } }],
      }),
      [
        'Rollout payments: spec.steps[0].clusters.matchExpressions[0].operator: "in" is not In, NotIn, Exists or DoesNotExist',
      ],
    ],
    [
      "maxUnavailable over 100%",
      rollout({ apps: { names: ["a"] }, steps: [{ clusters: {}, maxUnavailable: "150%" }] }),
      ['Rollout payments: spec.steps[0].maxUnavailable: "150%" is not a count or a percentage up to 100%'],
    ],
    [
      "a negative maxUnavailable",
      rollout({ apps: { names: ["a"] }, steps: [{ clusters: {}, maxUnavailable: -3 }] }),
      ["Rollout payments: spec.steps[0].maxUnavailable: -3 is not a count or a percentage up to 100%"],
    ],
    [
      "an unparsable bake time",
      rollout({ apps: { names: ["a"] }, steps: [{ clusters: {}, bakeTime: "1 minute" }] }),
      [
        'Rollout payments: spec.steps[0].bakeTime: "1 minute" is not a duration (examples: 500ms, 30s, 3m, 1h, 7d)',
      ],
    ],
    [
      "a bake time that is not a duration at all",
      rollout({ apps: { names: ["a"] }, steps: [{ clusters: {}, bakeTime: { minutes: 1 } }] }),
      ["Rollout payments: spec.steps[0].bakeTime: must be a duration such as 30s or 5m"],
    ],
    [
      "two steps of one name",
      rollout({
        apps: { names: ["a"] },
        steps: [
          { name: "prod", clusters: {} },
          { name: "prod", clusters: {} },
        ],
      }),
      ['Rollout payments: spec.steps[1].name: "prod" is already the name of spec.steps[0]'],
    ],
    [
      "an unparsable progress deadline",
      rollout({ apps: { names: ["a"] }, steps: [step], progressDeadline: "tomorrow" }),
      [
        'Rollout payments: spec.progressDeadline: "tomorrow" is not a duration (examples: 500ms, 30s, 3m, 1h, 7d)',
      ],
    ],
    [
      "a rollback that is not a boolean",
      rollout({ apps: { names: ["a"] }, steps: [step], rollback: "yes" }),
      ['Rollout payments: spec.rollback: "yes" is not true or false'],
    ],
    [
      "an unknown offline policy",
      rollout({ apps: { names: ["a"] }, steps: [step], offlineClusters: { policy: "Ignore" } }),
      ['Rollout payments: spec.offlineClusters.policy: "Ignore" is not Wait or Skip'],
    ],
    [
      "Skip without a timeout",
      rollout({ apps: { names: ["a"] }, steps: [step], offlineClusters: { policy: "Skip" } }),
      ["Rollout payments: spec.offlineClusters.timeout: is required with policy Skip"],
    ],
    [
      "an unparsable Skip timeout",
      rollout({ apps: { names: ["a"] }, steps: [step], offlineClusters: { policy: "Skip", timeout: "1y" } }),
      [
        'Rollout payments: spec.offlineClusters.timeout: "1y" is not a duration (examples: 500ms, 30s, 3m, 1h, 7d)',
      ],
    ],
  ];
  for (const [what, obj, problems] of bad) {
    it(`reports ${what}, naming the object and the field, and declares nothing`, () => {
      assert.deepEqual(readRolloutResource(obj, "apps"), { problems });
    });
  }
});

describe("matchesSelector", () => {
  const labels = { env: "prod", region: "eu", canary: "" };

  it("ANDs matchLabels and every operator of matchExpressions", () => {
    const cases: [Parameters<typeof matchesSelector>[0], boolean][] = [
      [{}, true],
      [{ matchLabels: { env: "prod" } }, true],
      [{ matchLabels: { env: "staging" } }, false],
      [{ matchExpressions: [{ key: "region", operator: "In", values: ["us", "eu"] }] }, true],
      [{ matchExpressions: [{ key: "region", operator: "NotIn", values: ["eu"] }] }, false],
      [{ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["web"] }] }, true],
      [{ matchExpressions: [{ key: "canary", operator: "Exists" }] }, true],
      [{ matchExpressions: [{ key: "canary", operator: "DoesNotExist" }] }, false],
      [{ matchExpressions: [{ key: "legacy", operator: "DoesNotExist" }] }, true],
      [
        {
          matchLabels: { env: "prod" },
          matchExpressions: [{ key: "region", operator: "In", values: ["us"] }],
        },
        false,
      ],
    ];
    for (const [selector, expected] of cases)
      assert.equal(matchesSelector(selector, labels), expected, JSON.stringify(selector));
  });
});

describe("compileAppMatcher", () => {
  it("takes apps matching a name glob and, when both are given, the selector too", () => {
    const both = compileAppMatcher({
      names: ["payments-*"],
      selector: { matchLabels: { team: "payments" } },
    });
    assert.equal(both("payments-api", { team: "payments" }), true);
    assert.equal(both("payments-api", { team: "web" }), false);
    assert.equal(both("web", { team: "payments" }), false);
    const names = compileAppMatcher({ names: ["a", "b-{x,y}"] });
    assert.deepEqual(
      ["a", "b-x", "b-z", "ab"].filter((name) => names(name, {})),
      ["a", "b-x"],
    );
    const selector = compileAppMatcher({ selector: { matchLabels: { team: "payments" } } });
    assert.deepEqual([selector("anything", { team: "payments" }), selector("anything", {})], [true, false]);
  });
});

describe("isRolloutResource and readAppLabels", () => {
  it("knows Flotilla's Rollout from Argo Rollouts' one", () => {
    assert.equal(isRolloutResource({ apiVersion: "flotilla.dev/v1alpha1", kind: "Rollout" }), true);
    assert.equal(isRolloutResource({ apiVersion: "flotilla.dev/v2", kind: "Rollout" }), true);
    assert.equal(isRolloutResource({ apiVersion: "argoproj.io/v1alpha1", kind: "Rollout" }), false);
    assert.equal(isRolloutResource({ apiVersion: "flotilla.dev/v1alpha1", kind: "Other" }), false);
  });

  it("keeps only the string labels of an Application", () => {
    const app = (labels: unknown) => ({ metadata: { labels: labels as Record<string, string> } });
    assert.deepEqual(readAppLabels(app({ env: "prod", replicas: 3, nested: { a: "b" } })), { env: "prod" });
    assert.deepEqual(readAppLabels(app("env=prod")), {});
    assert.deepEqual(readAppLabels({ metadata: {} }), {});
  });
});
