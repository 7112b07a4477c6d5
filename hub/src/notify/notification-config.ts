/**
 * The `notifications:` section of the hub config file: webhook targets that hear about degraded
 * apps, failed syncs and disconnected clusters (docs/notifications.md). A target's URL and its
 * header values are secrets: no error, log line or event shows them.
 */
import { parseDuration } from "@flotilla/proto/duration";
import { type LabelSelector, parseLabelSelector } from "../fleet/label-selector.js";
import { compileGlob } from "../render/match-glob.js";

export const TRIGGERS = ["app-degraded", "sync-failed", "cluster-disconnected"] as const;
export type Trigger = (typeof TRIGGERS)[number];

export const FORMATS = ["json", "slack"] as const;
export type NotificationFormat = (typeof FORMATS)[number];

export type NotificationTarget = {
  /** Names the target in logs and events, in place of its URL. */
  name: string;
  /** http(s) URL with `${VAR}` references expanded; a secret. */
  url: string;
  format: NotificationFormat;
  triggers: readonly Trigger[];
  /** Only clusters whose labels match; undefined: every cluster. */
  selector?: LabelSelector;
  /** Glob patterns (`*`, `?`, `[a-z]`, `{a,b}`) of app names; empty: every app. */
  apps: readonly string[];
  /** Extra request headers, values expanded; the values are secrets. */
  headers: Readonly<Record<string, string>>;
  /** A condition still present notifies again after this long; 0: never again while present. */
  repeatAfterMs: number;
};

export type NotificationConfig = {
  targets: readonly NotificationTarget[];
  /** Attempts per delivery, the first included; default 5. */
  maxAttempts: number;
  /** Per attempt; default 10 s. */
  timeoutMs: number;
  /** How often the leader reads new events; default 2 s. */
  pollIntervalMs: number;
};

type Env = Readonly<Record<string, string | undefined>>;

export const NOTIFICATION_DEFAULTS = {
  maxAttempts: 5,
  timeoutMs: 10_000,
  pollIntervalMs: 2_000,
  repeatAfterMs: 3_600_000,
} as const;

const MAX_ATTEMPTS_LIMIT = 20;
const SECTION_KEYS = new Set(["targets", "maxAttempts", "timeout", "pollInterval"]);
const TARGET_KEYS = new Set([
  "name",
  "url",
  "format",
  "triggers",
  "selector",
  "apps",
  "headers",
  "repeatAfter",
]);
const TARGET_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** No section: no targets, and the notifier has nothing to do. */
export function emptyNotificationConfig(): NotificationConfig {
  const { maxAttempts, timeoutMs, pollIntervalMs } = NOTIFICATION_DEFAULTS;
  return { targets: [], maxAttempts, timeoutMs, pollIntervalMs };
}

/**
 * Reads the section as YAML gave it. `where` names the config file in errors; `env` resolves
 * `${VAR}` references in URLs and header values. Throws an Error naming the target and the field.
 */
export function readNotificationConfig(value: unknown, where: string, env: Env): NotificationConfig {
  if (value === undefined || value === null) return emptyNotificationConfig();
  const at = `${where}: notifications`;
  const section = asMap(value, at);
  rejectUnknownKeys(section, SECTION_KEYS, at);
  const config = emptyNotificationConfig();
  if (section.maxAttempts !== undefined) {
    const attempts = section.maxAttempts;
    if (
      typeof attempts !== "number" ||
      !Number.isInteger(attempts) ||
      attempts < 1 ||
      attempts > MAX_ATTEMPTS_LIMIT
    )
      throw new Error(`${at}: "maxAttempts" must be an integer from 1 to ${MAX_ATTEMPTS_LIMIT}`);
    config.maxAttempts = attempts;
  }
  if (section.timeout !== undefined) config.timeoutMs = positiveDuration(section.timeout, `${at}: "timeout"`);
  if (section.pollInterval !== undefined)
    config.pollIntervalMs = positiveDuration(section.pollInterval, `${at}: "pollInterval"`);
  const targets = section.targets ?? [];
  if (!Array.isArray(targets)) throw new Error(`${at}: "targets" must be a list`);
  const names = new Set<string>();
  config.targets = targets.map((entry: unknown, index) => {
    const target = readTarget(entry, `${at}.targets[${index}]`, env);
    if (names.has(target.name))
      throw new Error(`${at}.targets[${index}]: target name "${target.name}" appears twice`);
    names.add(target.name);
    return target;
  });
  return config;
}

function readTarget(entry: unknown, position: string, env: Env): NotificationTarget {
  const item = asMap(entry, position);
  const name = item.name;
  if (typeof name !== "string" || !TARGET_NAME.test(name))
    throw new Error(
      `${position}: "name" must be 1 to 63 letters, digits, ".", "_" or "-", starting and ending with a letter or digit`,
    );
  const at = `${position} (${name})`;
  rejectUnknownKeys(item, TARGET_KEYS, at);

  if (typeof item.url !== "string" || item.url === "")
    throw new Error(`${at}: "url" must be a non-empty string`);
  const url = expandVariables(item.url, `${at}: "url"`, env);
  // The URL is a secret (Slack puts the credential in its path): never echo it.
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:"))
    throw new Error(`${at}: "url" must be an absolute http:// or https:// URL (its value is not shown)`);

  const format = item.format ?? "json";
  if (typeof format !== "string" || !(FORMATS as readonly string[]).includes(format))
    throw new Error(`${at}: unknown "format" ${JSON.stringify(format)}: use ${FORMATS.join(" or ")}`);

  let triggers: Trigger[] = [...TRIGGERS];
  if (item.triggers !== undefined) {
    if (!Array.isArray(item.triggers) || item.triggers.length === 0)
      throw new Error(`${at}: "triggers" must be a non-empty list of ${TRIGGERS.join(", ")}`);
    triggers = item.triggers.map((trigger: unknown) => {
      if (typeof trigger !== "string" || !(TRIGGERS as readonly string[]).includes(trigger))
        throw new Error(`${at}: unknown trigger ${JSON.stringify(trigger)}: use ${TRIGGERS.join(", ")}`);
      return trigger as Trigger;
    });
    triggers = [...new Set(triggers)];
  }

  let selector: LabelSelector | undefined;
  if (item.selector !== undefined && item.selector !== null) {
    if (typeof item.selector !== "string")
      throw new Error(`${at}: "selector" must be a string such as env=prod`);
    try {
      selector = parseLabelSelector(item.selector);
    } catch (error) {
      throw new Error(`${at}: "selector": ${(error as Error).message}`);
    }
  }

  const apps = item.apps ?? [];
  if (!Array.isArray(apps) || !apps.every((app) => typeof app === "string" && app !== ""))
    throw new Error(`${at}: "apps" must be a list of app names or glob patterns`);
  for (const pattern of apps as string[]) {
    if (!compileGlob(pattern, "gobwas"))
      throw new Error(`${at}: "apps" pattern ${JSON.stringify(pattern)} is not a valid glob`);
  }

  const headers: Record<string, string> = {};
  if (item.headers !== undefined && item.headers !== null) {
    const given = asMap(item.headers, `${at}: "headers"`);
    for (const [header, headerValue] of Object.entries(given)) {
      if (!HEADER_NAME.test(header))
        throw new Error(`${at}: header name ${JSON.stringify(header)} is not valid`);
      if (typeof headerValue !== "string")
        throw new Error(`${at}: header ${header} must be a string (its value is not shown)`);
      const expanded = expandVariables(headerValue, `${at}: header ${header}`, env);
      if (/[\r\n\0]/.test(expanded))
        throw new Error(`${at}: header ${header} contains a line break (its value is not shown)`);
      headers[header] = expanded;
    }
  }

  const repeatAfterMs =
    item.repeatAfter === undefined
      ? NOTIFICATION_DEFAULTS.repeatAfterMs
      : readDuration(item.repeatAfter, `${at}: "repeatAfter"`);

  return {
    name,
    url,
    format: format as NotificationFormat,
    triggers,
    ...(selector ? { selector } : {}),
    apps: apps as string[],
    headers,
    repeatAfterMs,
  };
}

/**
 * Replaces each `${VAR}` in `text` with the environment variable, so the file can be committed
 * without its secrets. An unset or empty variable is an error naming it (not its value).
 */
export function expandVariables(text: string, where: string, env: Env): string {
  return text.replace(VARIABLE, (_, variable: string) => {
    const value = env[variable];
    if (!value) throw new Error(`${where} names environment variable ${variable}, which is not set`);
    return value;
  });
}

function asMap(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error(`${where} must be a map of settings`);
  return value as Record<string, unknown>;
}

function rejectUnknownKeys(map: Record<string, unknown>, known: ReadonlySet<string>, where: string): void {
  for (const key of Object.keys(map)) {
    if (!known.has(key))
      throw new Error(`${where}: unknown setting "${key}" (known: ${[...known].join(", ")})`);
  }
}

function readDuration(value: unknown, where: string): number {
  if (typeof value !== "string" && typeof value !== "number")
    throw new Error(`${where} must be a duration such as 30s or 1h`);
  return parseDuration(String(value), where);
}

function positiveDuration(value: unknown, where: string): number {
  const ms = readDuration(value, where);
  if (ms <= 0) throw new Error(`${where} must be longer than 0`);
  return ms;
}
