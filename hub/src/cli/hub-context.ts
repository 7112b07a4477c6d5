// How the CLI finds the hub and talks to it. Each setting comes from the first of: a flag
// (--hub, --token, --ca), an environment variable (FLOTILLA_HUB, FLOTILLA_TOKEN, FLOTILLA_CA),
// the context file `flotilla login` writes. The hub serves FleetService on the host and port of
// its HTTPS URL (one TLS port; gRPC clients offer h2), with a certificate its own CA signed.
//
// The context file (`$FLOTILLA_CONFIG`, else `$XDG_CONFIG_HOME/flotilla/config.yaml`, else
// `~/.config/flotilla/config.yaml`), mode 0600 in a 0700 directory:
//   current: prod
//   contexts:
//     prod: { hub: https://hub.example:8443, token: fla_..., ca: /home/me/.flotilla/ca.crt }
// A context's token is only ever sent to that context's hub: with a hub from a flag or the
// environment, the current context is used when its hub is the same URL, else the first context
// (by name) for that URL, else none.

import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { FleetService } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import {
  type CallOptions,
  type Client,
  closeClient,
  createClient,
  credentials,
  GrpcError,
} from "@flotilla/proto/grpc";
import { parse, stringify } from "yaml";
import { redact } from "../auth/tokens.js";
import type { CliIo } from "./command.js";
import { UsageError } from "./command.js";
import { describeError } from "./run-cli.js";

/** parseArgs options of every command that talks to the hub. */
export const HUB_FLAG_OPTIONS = {
  hub: { type: "string" },
  token: { type: "string" },
  ca: { type: "string" },
} as const;

export type HubFlags = { hub?: string; token?: string; ca?: string };

/** One saved hub: its URL, API token and the absolute path of its CA certificate (PEM). */
export type HubContext = { hub: string; token?: string; ca?: string };

export type ContextFile = { current?: string; contexts: Record<string, HubContext> };

/** Where the CLI sends its calls, and where each setting came from (for messages). */
export type HubTarget = {
  /** The hub's https URL, without a trailing slash. */
  url: string;
  /** `host:port` of FleetService: the URL's host and port (443 when it has none). */
  address: string;
  token?: string;
  /** Absolute path of the CA certificate; unset means the system's trusted CAs. */
  ca?: string;
  /** For example "--hub", "FLOTILLA_TOKEN" or `context "prod" in /home/me/.config/flotilla/config.yaml`. */
  from: { hub: string; token?: string; ca?: string };
};

/** An open FleetService client; pass `callOptions` (the bearer token and a deadline) to every call. */
export type FleetConnection = {
  client: Client<typeof FleetService>;
  callOptions: CallOptions;
  target: HubTarget;
  close(): void;
};

/** Deadline of one call: long enough for a slow hub, short enough that a black-holed address fails. */
export const CALL_TIMEOUT_MS = 30_000;

const HOW_TO_CONFIGURE =
  "run `flotilla login --hub <url> --token-file <file> --ca <ca.crt>`, or pass --hub, --token and --ca, or set FLOTILLA_HUB, FLOTILLA_TOKEN and FLOTILLA_CA";

/** The context file: `$FLOTILLA_CONFIG`, else `$XDG_CONFIG_HOME/flotilla/config.yaml`, else `~/.config/flotilla/config.yaml`. */
export function contextFilePath(env: Readonly<Record<string, string | undefined>>): string {
  if (env.FLOTILLA_CONFIG) return resolve(env.FLOTILLA_CONFIG);
  const configHome = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(configHome, "flotilla", "config.yaml");
}

/**
 * The hub URL as the CLI stores and compares it: https, no user or password, no query, no
 * trailing slash. "host:port" without a scheme means https. Throws naming `from` otherwise.
 */
export function normalizeHubUrl(text: string, from: string): string {
  const withScheme = text.includes("://") ? text : `https://${text}`;
  if (!URL.canParse(withScheme)) throw new Error(`hub URL "${text}" (from ${from}) is not a URL`);
  const url = new URL(withScheme);
  if (url.protocol !== "https:") throw new Error(`hub URL "${text}" (from ${from}) must be an https:// URL`);
  if (url.username || url.password)
    throw new Error(`hub URL (from ${from}) must not contain a user or password`);
  if (url.search || url.hash)
    throw new Error(`hub URL "${text}" (from ${from}) must not have a query or fragment`);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** `host:port` of FleetService for a normalized hub URL: its host and port, 443 when it has none. */
export function hubAddress(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || "443"}`;
}

/** Reads the context file; a missing file has no contexts. Throws naming the file (and context) when it is malformed. */
export async function readContextFile(path: string): Promise<ContextFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { contexts: {} };
    throw new Error(`cannot read the context file ${path}`, { cause: error });
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    // YAML errors quote the offending line, which may hold a token.
    throw new Error(`${path}: not valid YAML: ${redact((error as Error).message)}`);
  }
  if (document === null || document === undefined) return { contexts: {} };
  const top = document as { current?: unknown; contexts?: unknown };
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new Error(`${path}: expected a map with "current" and "contexts"`);
  }
  if (top.current !== undefined && top.current !== null && typeof top.current !== "string") {
    throw new Error(`${path}: "current" must be a context name`);
  }
  const contexts: Record<string, HubContext> = {};
  const listed = top.contexts ?? {};
  if (typeof listed !== "object" || listed === null || Array.isArray(listed)) {
    throw new Error(`${path}: "contexts" must be a map of context names to {hub, token, ca}`);
  }
  for (const [name, value] of Object.entries(listed)) {
    const entry = value as { hub?: unknown; token?: unknown; ca?: unknown } | null;
    const where = `${path}: context "${name}"`;
    if (typeof entry?.hub !== "string" || entry.hub === "") throw new Error(`${where}: "hub" must be a URL`);
    for (const field of ["token", "ca"] as const) {
      const fieldValue = entry[field];
      if (fieldValue !== undefined && fieldValue !== null && typeof fieldValue !== "string") {
        throw new Error(`${where}: "${field}" must be a string`);
      }
    }
    contexts[name] = {
      hub: entry.hub,
      ...(typeof entry.token === "string" && entry.token ? { token: entry.token } : {}),
      // A relative path in a hand-written file is relative to the file, not to where the CLI runs.
      ...(typeof entry.ca === "string" && entry.ca ? { ca: resolve(dirname(path), entry.ca) } : {}),
    };
  }
  return { ...(top.current ? { current: top.current } : {}), contexts };
}

/**
 * Writes the context file atomically (a temporary file renamed over it) with mode 0600,
 * creating its directory with mode 0700.
 */
export async function writeContextFile(path: string, file: ContextFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const text = stringify({ ...(file.current ? { current: file.current } : {}), contexts: file.contexts });
  try {
    await writeFile(temporary, text, { mode: 0o600, flag: "wx" });
    await chmod(temporary, 0o600);
    await rename(temporary, path);
  } catch (cause) {
    await rm(temporary, { force: true });
    throw new Error(`cannot write the context file ${path}`, { cause });
  }
}

/** Adds or replaces context `name` in the file at `path` and makes it current; other contexts stay. */
export async function saveContext(path: string, name: string, context: HubContext): Promise<void> {
  const file = await readContextFile(path);
  await writeContextFile(path, { current: name, contexts: { ...file.contexts, [name]: context } });
}

/** Picks hub, token and CA by precedence (flags, environment, context file). Throws when no hub is configured. */
export async function resolveHubTarget(
  flags: HubFlags,
  env: Readonly<Record<string, string | undefined>>,
): Promise<HubTarget> {
  const pick = (flag: keyof HubFlags, variable: string) => {
    if (flags[flag]) return { value: flags[flag], from: `--${flag}` };
    if (env[variable]) return { value: env[variable], from: variable };
    return undefined;
  };
  const hub = pick("hub", "FLOTILLA_HUB");
  const token = pick("token", "FLOTILLA_TOKEN");
  const ca = pick("ca", "FLOTILLA_CA");
  const hubUrl = hub ? normalizeHubUrl(hub.value, hub.from) : undefined;

  let context: { name: string; entry: HubContext; from: string } | undefined;
  if (!hubUrl || !token || !ca) {
    const path = contextFilePath(env);
    const file = await readContextFile(path);
    const from = (name: string) => `context "${name}" in ${path}`;
    const sameHub = (entry: HubContext) => {
      try {
        return normalizeHubUrl(entry.hub, "") === hubUrl;
      } catch {
        return false;
      }
    };
    if (file.current !== undefined && !file.contexts[file.current] && !hubUrl) {
      throw new Error(`the current context "${file.current}" is not in ${path}: ${HOW_TO_CONFIGURE}`);
    }
    const current = file.current === undefined ? undefined : file.contexts[file.current];
    if (current && (!hubUrl || sameHub(current))) {
      context = { name: file.current as string, entry: current, from: from(file.current as string) };
    } else if (hubUrl) {
      const name = Object.keys(file.contexts)
        .sort()
        .find((n) => sameHub(file.contexts[n] as HubContext));
      if (name !== undefined) context = { name, entry: file.contexts[name] as HubContext, from: from(name) };
    }
  }

  const url = hubUrl ?? (context ? normalizeHubUrl(context.entry.hub, context.from) : undefined);
  if (!url) throw new Error(`no hub configured: ${HOW_TO_CONFIGURE}`);
  const tokenValue = token?.value ?? context?.entry.token;
  const caValue = ca ? resolve(ca.value) : context?.entry.ca;
  return {
    url,
    address: hubAddress(url),
    ...(tokenValue ? { token: tokenValue } : {}),
    ...(caValue ? { ca: caValue } : {}),
    from: {
      hub: hub?.from ?? context?.from ?? "",
      ...(tokenValue ? { token: token?.from ?? context?.from } : {}),
      ...(caValue ? { ca: ca?.from ?? context?.from } : {}),
    },
  };
}

/**
 * Opens a FleetService client to `target`, trusting its CA file (or the system CAs without one).
 * Throws, naming the file and where it was configured, when the CA file cannot be read or holds
 * no PEM certificate, and when there is no API token.
 */
export async function connectFleet(target: HubTarget): Promise<FleetConnection> {
  if (!target.token) {
    throw new Error(
      `no API token for the hub ${target.url} (from ${target.from.hub}): pass --token, set FLOTILLA_TOKEN, or run \`flotilla login\``,
    );
  }
  let caPem: Buffer | null = null;
  if (target.ca) {
    try {
      caPem = await readFile(target.ca);
    } catch (cause) {
      throw new Error(`cannot read the hub's CA certificate ${target.ca} (from ${target.from.ca})`, {
        cause,
      });
    }
    if (!caPem.toString("utf8").includes("-----BEGIN CERTIFICATE-----")) {
      throw new Error(`the hub's CA file ${target.ca} (from ${target.from.ca}) holds no PEM certificate`);
    }
  }
  const client = createClient(FleetService, target.address, credentials.createSsl(caPem));
  return {
    client,
    callOptions: { metadata: { authorization: `Bearer ${target.token}` }, deadlineMs: CALL_TIMEOUT_MS },
    target,
    close: () => closeClient(client),
  };
}

/** A FleetService client for the hub the flags, environment or context file name (see resolveHubTarget). */
export async function openFleetClient(io: CliIo, flags: HubFlags): Promise<FleetConnection> {
  return connectFleet(await resolveHubTarget(flags, io.env));
}

/**
 * Runs `run` with a client and closes it. An error (the hub's answer, an unreachable hub, a
 * configuration problem) is written to stderr without any token and gives exit code 1; usage
 * errors propagate (exit 2).
 */
export async function withFleetClient(
  io: CliIo,
  flags: HubFlags,
  run: (fleet: FleetConnection) => Promise<number>,
): Promise<number> {
  let fleet: FleetConnection | undefined;
  try {
    fleet = await openFleetClient(io, flags);
    return await run(fleet);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    io.stderr(`flotilla: ${describeHubError(error, fleet?.target)}\n`);
    return 1;
  } finally {
    fleet?.close();
  }
}

const CONNECTION_FAILURE =
  /No connection established|failed to connect|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|Connection dropped|resolution failed/i;
const TLS_FAILURE = /certificate|self[- ]signed|altnames|SSL|TLS|handshake/i;

/**
 * One line for people about an error of a call to `target`: the address tried when the hub is
 * unreachable, which token (by where it was configured) the hub refused, the hub's message
 * otherwise. Tokens are replaced by `<redacted>`, also in messages that echo them.
 */
export function describeHubError(error: unknown, target: HubTarget | undefined): string {
  return scrub(explain(error, target), target?.token);
}

function explain(error: unknown, target: HubTarget | undefined): string {
  if (!(error instanceof GrpcError) || !target) return describeError(error);
  const { address, url } = target;
  const details = tidyDetails(error.details);
  const token = target.from.token ?? "nowhere";
  switch (error.code) {
    case "UNAVAILABLE":
      if (TLS_FAILURE.test(details)) {
        const ca = target.ca
          ? `is ${target.ca} (from ${target.from.ca}) the CA that signed the hub's certificate?`
          : "pass the hub's CA certificate with --ca or FLOTILLA_CA";
        return `cannot reach the hub at ${address} (${url}): TLS: ${details}; ${ca}`;
      }
      if (CONNECTION_FAILURE.test(details)) return `cannot reach the hub at ${address} (${url}): ${details}`;
      return `the hub at ${address} is unavailable: ${details}`;
    case "DEADLINE_EXCEEDED":
      return `the hub at ${address} (${url}) did not answer in time: ${details}`;
    case "UNAUTHENTICATED":
      return `the hub at ${address} refused the API token from ${token}: ${details}; log in again with \`flotilla login\`, or pass another --token`;
    case "PERMISSION_DENIED":
      return `the hub at ${address} does not allow this for the API token from ${token}: ${details}`;
    case "UNIMPLEMENTED":
      return `the hub at ${address} does not implement this call (an older hub?): ${details}`;
    default:
      return `${details} (${error.code})`;
  }
}

/** grpc-js wraps socket errors: "No connection established. Last error: Error: <cause>. Resolution note: ". */
function tidyDetails(details: string): string {
  return details
    .replace(/^No connection established\. Last error: (Error: )?/, "")
    .replace(/\.? ?Resolution note: ?$/, "");
}

function scrub(text: string, token: string | undefined): string {
  const redacted = redact(text);
  return token ? redacted.replaceAll(token, "<redacted>") : redacted;
}

/**
 * Every item of a paged list: calls `fetchPage` with "" and then each next_page_token until an
 * empty one. Throws when the hub hands out the same token twice (the loop would never end).
 */
export async function collectPages<T>(
  what: string,
  fetchPage: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>,
): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  let pageToken = "";
  do {
    const page = await fetchPage(pageToken);
    items.push(...page.items);
    pageToken = page.nextPageToken;
    if (seen.has(pageToken)) throw new Error(`${what}: the hub returned the same page token twice`);
    seen.add(pageToken);
  } while (pageToken !== "");
  return items;
}

/** Parses a hub command's arguments: its own `options` plus --hub, --token and --ca. */
export function parseHubArgs<const T extends HubCommandOptions>(
  args: string[],
  options: T,
): ParsedHubArgs<T> {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { ...HUB_FLAG_OPTIONS, ...options },
  });
}

type HubCommandOptions = NonNullable<ParseArgsConfig["options"]>;
type ParsedHubArgs<T extends HubCommandOptions> = ReturnType<
  typeof parseArgs<{
    args: string[];
    allowPositionals: true;
    strict: true;
    options: typeof HUB_FLAG_OPTIONS & T;
  }>
>;

/** For commands that take no positional arguments. */
export function noPositionals(positionals: readonly string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
}
