import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { matchesSelector } from "../fleet/label-selector.js";
import { readNotificationConfig } from "./notification-config.js";

/** `${NAME}` as the config file writes it. */
const envRef = (name: string) => ["$", "{", name, "}"].join("");
const SECRET_PATH = "T000/B000/s3cretPath";
const SECRET_TOKEN = "tok-Very-Secret";
const env = { SLACK_PATH: SECRET_PATH, TOKEN: SECRET_TOKEN };

/** Reads a section with one target built from `fields`; returns the error message. */
function errorOf(fields: Record<string, unknown>, section: Record<string, unknown> = {}): string {
  try {
    readNotificationConfig(
      { ...section, targets: [{ name: "ops", url: "https://hooks.example/x", ...fields }] },
      "hub.yaml",
      env,
    );
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail("expected the section to be refused");
}

describe("readNotificationConfig", () => {
  it("has no targets and the default timings without a section", () => {
    assert.deepEqual(readNotificationConfig(undefined, "hub.yaml", {}), {
      targets: [],
      maxAttempts: 5,
      timeoutMs: 10_000,
      pollIntervalMs: 2_000,
    });
  });

  it("fills a target's defaults: json, all three triggers, every cluster and app, repeat after 1h", () => {
    const config = readNotificationConfig(
      { targets: [{ name: "ops", url: "https://hooks.example/x" }] },
      "hub.yaml",
      {},
    );
    assert.deepEqual(config.targets, [
      {
        name: "ops",
        url: "https://hooks.example/x",
        format: "json",
        triggers: ["app-degraded", "sync-failed", "cluster-disconnected"],
        apps: [],
        headers: {},
        repeatAfterMs: 3_600_000,
      },
    ]);
  });

  it("expands environment references in the URL and header values and reads every field", () => {
    const config = readNotificationConfig(
      {
        maxAttempts: 3,
        timeout: "5s",
        pollInterval: "500ms",
        targets: [
          {
            name: "ops-slack",
            url: `https://hooks.slack.com/services/${envRef("SLACK_PATH")}`,
            format: "slack",
            triggers: ["app-degraded", "cluster-disconnected"],
            selector: "env=prod",
            apps: ["web", "api-*"],
            headers: { Authorization: `Bearer ${envRef("TOKEN")}` },
            repeatAfter: "30m",
          },
        ],
      },
      "hub.yaml",
      env,
    );
    assert.equal(config.maxAttempts, 3);
    assert.equal(config.timeoutMs, 5_000);
    assert.equal(config.pollIntervalMs, 500);
    const [target] = config.targets;
    assert.ok(target?.selector);
    assert.equal(target.url, `https://hooks.slack.com/services/${SECRET_PATH}`);
    assert.deepEqual(target.headers, { Authorization: `Bearer ${SECRET_TOKEN}` });
    assert.equal(target.format, "slack");
    assert.deepEqual(target.triggers, ["app-degraded", "cluster-disconnected"]);
    assert.deepEqual(target.apps, ["web", "api-*"]);
    assert.equal(target.repeatAfterMs, 1_800_000);
    assert.equal(matchesSelector(target.selector, { env: "prod" }), true);
    assert.equal(matchesSelector(target.selector, { env: "dev" }), false);
  });

  it("names the target and the field of a bad value", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { url: "ftp://hooks.example/x" },
        /targets\[0\] \(ops\): "url" must be an absolute http:\/\/ or https:\/\/ URL/,
      ],
      [{ url: "not a url" }, /\(ops\): "url" must be an absolute/],
      [{ format: "teams" }, /\(ops\): unknown "format" "teams": use json or slack/],
      [
        { triggers: ["app-deleted"] },
        /\(ops\): unknown trigger "app-deleted": use app-degraded, sync-failed/,
      ],
      [{ triggers: [] }, /\(ops\): "triggers" must be a non-empty list/],
      [{ selector: "env in prod" }, /\(ops\): "selector": label selector "env in prod" at column 8/],
      [{ apps: ["web["] }, /\(ops\): "apps" pattern "web\[" is not a valid glob/],
      [{ repeatAfter: "soon" }, /\(ops\): "repeatAfter": "soon" is not a duration/],
      [{ headers: { "Bad Header": "x" } }, /\(ops\): header name "Bad Header" is not valid/],
      [{ trigger: ["app-degraded"] }, /\(ops\): unknown setting "trigger"/],
      [{ name: "has space" }, /targets\[0\]: "name" must be 1 to 63 letters/],
    ];
    for (const [fields, expected] of cases) assert.match(errorOf(fields), expected);
    assert.match(
      errorOf({}, { maxAttempts: 0 }),
      /notifications: "maxAttempts" must be an integer from 1 to 20/,
    );
    assert.match(errorOf({}, { timeout: "0s" }), /notifications: "timeout" must be longer than 0/);
    assert.match(
      (() => {
        try {
          readNotificationConfig(
            {
              targets: [
                { name: "a", url: "https://x/" },
                { name: "a", url: "https://y/" },
              ],
            },
            "hub.yaml",
            {},
          );
          return "";
        } catch (error) {
          return (error as Error).message;
        }
      })(),
      /targets\[1\]: target name "a" appears twice/,
    );
  });

  it("never shows a URL or header value in an error, and names an unset variable", () => {
    const secretUrl = `ftp://hooks.example/${SECRET_PATH}`;
    const message = errorOf({ url: secretUrl });
    assert.doesNotMatch(message, /s3cretPath/);
    assert.match(
      errorOf({ url: `https://hooks.example/${envRef("UNSET_PATH")}` }),
      /\(ops\): "url" names environment variable UNSET_PATH, which is not set/,
    );
    const headerError = errorOf({ headers: { Authorization: `Bearer ${SECRET_TOKEN}\nX-Evil: 1` } });
    assert.match(headerError, /header Authorization contains a line break/);
    assert.doesNotMatch(headerError, /Very-Secret/);
  });
});
