/**
 * The hub's configuration: flags beat environment variables, which beat the config file
 * (`--config` or `FLOTILLA_HUB_CONFIG`, YAML), which beats the defaults. With nothing set the hub
 * is the embedded default: a data dir with PGlite, an in-process bus and a self-made CA.
 */
import { readFileSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { parseDuration } from "@flotilla/proto/duration";
import { parse } from "yaml";
import { loadRenderConfig, type RenderConfig } from "../config.js";
import { type NotificationConfig, readNotificationConfig } from "../notify/notification-config.js";
import type { RepoCredentials } from "../source/git-source.js";
import type { LogLevel } from "./hub-runtime.js";
import { parseLogLevel } from "./log.js";

/** A source declared in the config file; created in the store on start when absent. */
export type ConfiguredSource = {
  name: string;
  repoUrl: string;
  path: string;
  targetRevision: string;
  pollIntervalMs: number;
  webhookSecret?: string;
};

export type HubConfig = {
  dataDir: string;
  /** `host:port` of the HTTPS listener, which also serves gRPC (HTTP/2) unless listenGrpc differs. */
  listenHttp: string;
  /** `host:port` of a separate gRPC listener; undefined: gRPC shares listenHttp. */
  listenGrpc?: string;
  /** `https://host:port` printed in join commands; default from listenHttp and the host name. */
  publicUrl?: string;
  /** Extra DNS names and IPs for the self-made serving certificate. */
  tlsHosts: string[];
  /** Operator-provided serving certificate and key (PEM files); the CA file must be set too. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsCaFile?: string;
  /** PostgreSQL instead of PGlite. */
  databaseUrl?: string;
  /** NATS JetStream instead of the in-process bus. */
  natsUrl?: string;
  /** Names this replica in leases, events and logs. */
  replica: string;
  heartbeatIntervalMs: number;
  /** Poll interval of sources added without one. */
  pollIntervalMs: number;
  maxMessageBytes: number;
  leaseTtlMs: number;
  sources: ConfiguredSource[];
  /** Repositories child Applications may point at besides the sources, with credentials. */
  repositories: { url: string; credentials?: RepoCredentials }[];
  /** Allow sources and repositories that are local paths or file: URLs (tests and demos). */
  allowLocalRepositories: boolean;
  /** Accept webhook pushes for sources that have no webhook secret. */
  allowUnsignedWebhooks: boolean;
  /**
   * Bearer token `GET /metrics` requires (`Authorization: Bearer <it>`); undefined: /metrics is
   * open, as Argo CD's metrics endpoints are. From FLOTILLA_METRICS_TOKEN or `metricsToken`.
   */
  metricsToken?: string;
  eventRetention: { maxAgeMs: number; maxRows: number };
  logLevel: LogLevel;
  render: RenderConfig;
  /** Webhook targets for degraded apps, failed syncs and lost clusters (file only; none by default). */
  notifications: NotificationConfig;
};

export type HubFlags = {
  config?: string;
  dataDir?: string;
  listenHttp?: string;
  listenGrpc?: string;
  publicUrl?: string;
};

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULTS = {
  listenHttp: "0.0.0.0:8443",
  heartbeatIntervalMs: 10_000,
  pollIntervalMs: 30_000,
  maxMessageBytes: 16 * 1024 * 1024,
  leaseTtlMs: 15_000,
  eventMaxAgeMs: 30 * 24 * 3600_000,
  eventMaxRows: 1_000_000,
};

/** The default data directory: `$XDG_DATA_HOME/flotilla/hub`, else `~/.local/share/flotilla/hub`. */
export function defaultDataDir(env: Env): string {
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "flotilla", "hub");
}

export function loadHubConfig(flags: HubFlags, env: Env, cwd = process.cwd()): HubConfig {
  const configPath = flags.config ?? env.FLOTILLA_HUB_CONFIG;
  const file = configPath ? readConfigFile(resolve(cwd, configPath)) : {};
  const where = configPath ?? "config";
  const text = (key: string, envName: string, flag?: string): string | undefined =>
    flag ?? (env[envName] || undefined) ?? optionalString(file, key, where);
  const duration = (key: string, envName: string, fallback: number): number => {
    const value = env[envName] || optionalString(file, key, where);
    if (value === undefined) return fallback;
    try {
      return parseDuration(value, env[envName] ? envName : `${where}: ${key}`);
    } catch (error) {
      throw new Error((error as Error).message);
    }
  };
  const number = (key: string, envName: string, fallback: number): number => {
    const raw = env[envName] ?? (file[key] === undefined ? undefined : String(file[key]));
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new Error(
        `${env[envName] ? envName : `${where}: ${key}`} must be a positive integer, not "${raw}"`,
      );
    return value;
  };
  const dataDir = resolve(cwd, text("dataDir", "FLOTILLA_DATA_DIR", flags.dataDir) ?? defaultDataDir(env));
  const listenHttp = text("listenHttp", "FLOTILLA_LISTEN_HTTP", flags.listenHttp) ?? DEFAULTS.listenHttp;
  checkListen(listenHttp, "--listen-http");
  const listenGrpc = text("listenGrpc", "FLOTILLA_LISTEN_GRPC", flags.listenGrpc);
  if (listenGrpc) checkListen(listenGrpc, "--listen-grpc");
  const publicUrl = text("publicUrl", "FLOTILLA_PUBLIC_URL", flags.publicUrl);
  if (publicUrl && !/^https:\/\/[^/]+\/?$/.test(publicUrl))
    throw new Error(`public URL "${publicUrl}" must look like https://host:port`);
  const pollIntervalMs = duration("pollInterval", "FLOTILLA_POLL_INTERVAL", DEFAULTS.pollIntervalMs);
  const tlsHostsText = env.FLOTILLA_TLS_HOSTS;
  const tlsHosts = tlsHostsText
    ? tlsHostsText
        .split(",")
        .map((host) => host.trim())
        .filter(Boolean)
    : optionalStringList(file, "tlsHosts", where);
  const flag = (key: string, envName: string): boolean => {
    const raw = env[envName] ?? (file[key] === undefined ? undefined : String(file[key]));
    if (raw === undefined) return false;
    if (raw !== "true" && raw !== "false")
      throw new Error(`${envName} / ${where}: ${key} must be true or false, not "${raw}"`);
    return raw === "true";
  };
  return {
    dataDir,
    listenHttp,
    ...(listenGrpc && listenGrpc !== listenHttp ? { listenGrpc } : {}),
    ...(publicUrl ? { publicUrl: publicUrl.replace(/\/$/, "") } : {}),
    tlsHosts,
    ...optionalPath("tlsCertFile", text("tlsCertFile", "FLOTILLA_TLS_CERT"), cwd),
    ...optionalPath("tlsKeyFile", text("tlsKeyFile", "FLOTILLA_TLS_KEY"), cwd),
    ...optionalPath("tlsCaFile", text("tlsCaFile", "FLOTILLA_TLS_CA"), cwd),
    ...optionalValue("databaseUrl", text("databaseUrl", "DATABASE_URL")),
    ...optionalValue("natsUrl", text("natsUrl", "NATS_URL")),
    replica: text("replica", "FLOTILLA_REPLICA") ?? `${hostname()}-${process.pid}`,
    heartbeatIntervalMs: duration(
      "heartbeatInterval",
      "FLOTILLA_HEARTBEAT_INTERVAL",
      DEFAULTS.heartbeatIntervalMs,
    ),
    pollIntervalMs,
    maxMessageBytes: number("maxMessageBytes", "FLOTILLA_MAX_MESSAGE_BYTES", DEFAULTS.maxMessageBytes),
    leaseTtlMs: duration("leaseTtl", "FLOTILLA_LEASE_TTL", DEFAULTS.leaseTtlMs),
    sources: readSources(file.sources, where, pollIntervalMs, env),
    repositories: readRepositories(file.repositories, where, env),
    allowLocalRepositories: flag("allowLocalRepositories", "FLOTILLA_ALLOW_LOCAL_REPOSITORIES"),
    allowUnsignedWebhooks: flag("allowUnsignedWebhooks", "FLOTILLA_ALLOW_UNSIGNED_WEBHOOKS"),
    ...optionalValue("metricsToken", readMetricsToken(file, where, env)),
    eventRetention: {
      maxAgeMs: duration("eventRetention", "FLOTILLA_EVENT_RETENTION", DEFAULTS.eventMaxAgeMs),
      maxRows: number("eventMaxRows", "FLOTILLA_EVENT_MAX_ROWS", DEFAULTS.eventMaxRows),
    },
    logLevel: parseLogLevel(text("logLevel", "FLOTILLA_LOG_LEVEL"), "FLOTILLA_LOG_LEVEL"),
    render: loadRenderConfig(env),
    notifications: readNotificationConfig(file.notifications, where, env),
  };
}

function readConfigFile(path: string): Record<string, unknown> {
  let textContent: string;
  try {
    textContent = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`config file ${path}: cannot read it: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  let document: unknown;
  try {
    document = parse(textContent, { maxAliasCount: 100 });
  } catch (error) {
    throw new Error(`config file ${path}: not valid YAML: ${(error as Error).message}`);
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== "object" || Array.isArray(document))
    throw new Error(`config file ${path}: expected a map of settings at the top`);
  return document as Record<string, unknown>;
}

function optionalString(file: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = file[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" && typeof value !== "number")
    throw new Error(`${where}: "${key}" must be a string`);
  return String(value);
}

function optionalStringList(file: Record<string, unknown>, key: string, where: string): string[] {
  const value = file[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string"))
    throw new Error(`${where}: "${key}" must be a list of strings`);
  return value;
}

function optionalValue<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value ? ({ [key]: value } as Record<K, string>) : {};
}

function optionalPath<K extends string>(
  key: K,
  value: string | undefined,
  cwd: string,
): Partial<Record<K, string>> {
  if (!value) return {};
  return { [key]: isAbsolute(value) ? value : resolve(cwd, value) } as Record<K, string>;
}

function checkListen(address: string, flag: string): void {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:[\]]+):(\d+)$/.exec(address);
  const port = Number(match?.[2]);
  if (!match || port > 65_535)
    throw new Error(`${flag} "${address}" must be host:port (port 0 picks a free one)`);
}

/** `${VAR}` in a secret setting reads the environment variable, so the file can be committed. */
function secretValue(value: unknown, where: string, env: Env): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new Error(`${where} must be a string`);
  const variable = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value)?.[1];
  if (!variable) return value;
  const fromEnv = env[variable];
  if (!fromEnv) throw new Error(`${where} names environment variable ${variable}, which is not set`);
  return fromEnv;
}

/** FLOTILLA_METRICS_TOKEN, else the file's `metricsToken` (a `${VAR}` reference reads VAR). */
function readMetricsToken(file: Record<string, unknown>, where: string, env: Env): string | undefined {
  const fromEnv = env.FLOTILLA_METRICS_TOKEN;
  const what = fromEnv ? "FLOTILLA_METRICS_TOKEN" : `${where}: metricsToken`;
  const token = fromEnv || secretValue(file.metricsToken, what, env);
  // Never quote the value: it is a secret.
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token))
    throw new Error(`${what} must be printable ASCII without spaces (it is sent as a bearer token)`);
  return token;
}

function readSources(value: unknown, where: string, pollIntervalMs: number, env: Env): ConfiguredSource[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`${where}: "sources" must be a list`);
  const names = new Set<string>();
  return value.map((entry: unknown, index) => {
    const at = `${where}: sources[${index}]`;
    const item = (entry ?? {}) as Record<string, unknown>;
    const name = item.name;
    if (typeof name !== "string" || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name))
      throw new Error(`${at}: "name" must be a DNS label (lowercase letters, digits, "-")`);
    if (names.has(name)) throw new Error(`${at}: source name "${name}" appears twice`);
    names.add(name);
    if (typeof item.repoURL !== "string" || item.repoURL === "")
      throw new Error(`${at} (${name}): "repoURL" must be a non-empty string`);
    const interval = item.pollInterval;
    return {
      name,
      repoUrl: item.repoURL,
      path: typeof item.path === "string" ? item.path : ".",
      targetRevision: typeof item.targetRevision === "string" ? item.targetRevision : "HEAD",
      pollIntervalMs:
        interval === undefined ? pollIntervalMs : parseDuration(String(interval), `${at} pollInterval`),
      ...optionalValue(
        "webhookSecret",
        secretValue(item.webhookSecret, `${at} (${name}) webhookSecret`, env),
      ),
    };
  });
}

function readRepositories(value: unknown, where: string, env: Env): HubConfig["repositories"] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`${where}: "repositories" must be a list`);
  return value.map((entry: unknown, index) => {
    const at = `${where}: repositories[${index}]`;
    const item = (entry ?? {}) as Record<string, unknown>;
    if (typeof item.url !== "string" || item.url === "")
      throw new Error(`${at}: "url" must be a non-empty string`);
    const credentials: RepoCredentials = {};
    const username = secretValue(item.username, `${at} username`, env);
    const password = secretValue(item.password, `${at} password`, env);
    const token = secretValue(item.token, `${at} token`, env);
    if (username) credentials.username = username;
    if (password) credentials.password = password;
    if (token) credentials.token = token;
    return Object.keys(credentials).length > 0 ? { url: item.url, credentials } : { url: item.url };
  });
}
