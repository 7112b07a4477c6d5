import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { type KubeClient, KubeError } from "../kube/kube-client.js";
import type { KubeObject, ObjectKey } from "../kube/kube-object.js";
import type { DesiredApp } from "./desired-app.js";

export type AppRecord = {
  desired: DesiredApp;
  /** digest last synced successfully, if any */
  syncedDigest?: string;
  /** object keys (formatKey) and apiVersions applied for this app, for prune after restart */
  inventory: { apiVersion: string; key: ObjectKey }[];
  /**
   * Hub sequence number of the change that delivered `desired` (a safe integer); unset for apps
   * that did not come from a hub or were stored before seqs were kept.
   */
  seq?: number;
  /** Bundle address (`sha256:<hex>`) `desired.objects` were decoded from, when from a hub. */
  bundleDigest?: string;
};

/** Who this agent is to its hub, from `flotilla-agent join`, plus the hub connection's cursor. */
export type HubIdentity = {
  clusterName: string;
  /** The HTTPS URL given to join; `${hubUrl}/ca.crt` serves the hub's CA certificate. */
  hubUrl: string;
  credential: string;
  /** `sha256:<hex>` over the CA certificate's DER SubjectPublicKeyInfo. */
  caHash: string;
  /** The hub's CA certificate (PEM), checked against caHash at join; trusted for every connection. */
  caCertPem?: string;
  /** `host:port` of the hub's AgentService; unset: the host and port of hubUrl. */
  grpcAddress?: string;
  /**
   * Highest hub seq persisted (a safe integer). Kept with the identity so that joining another hub
   * starts again from 0.
   */
  lastAppliedSeq?: number;
};

export type AgentState = {
  identity?: HubIdentity;
  apps: Record<string, AppRecord>;
};

/** What the agent persists so it keeps working offline and resumes after a restart. */
export interface StateStore {
  /** The stored state; an empty state when nothing was stored yet. Throws on a corrupt store. */
  load(): Promise<AgentState>;
  /** Persists only what changed since the last load/save (no write at all when nothing changed). */
  save(state: AgentState): Promise<void>;
  /** Where the state lives, for messages: a file path or `secrets://namespace/prefix`. */
  readonly location: string;
}

/** The label every state Secret carries; load() lists Secrets by it. */
export const STATE_LABEL = "flotilla.dev/agent-state";
/** Annotation of an app state Secret naming its app (the Secret name holds only a hash). */
export const APP_NAME_ANNOTATION = "flotilla.dev/app-name";
/** A Secret holds at most 1 MiB; this leaves room for metadata. */
export const MAX_APP_RECORD_COMPRESSED_BYTES = 900 * 1024;

const FIELD_MANAGER = "flotilla-agent";
const SECRET_DATA_KEY = "state.json.gz";

/**
 * A store in one gzip-compressed JSON file at `path`. Writes are atomic (a temporary file in the
 * same directory, fsynced, then renamed over `path`) with mode 0600; the directory is created
 * (0700) when missing. A missing file loads as an empty state; an unreadable or corrupt one
 * rejects with an Error naming the path and cause, so the agent never silently forgets its
 * inventory. Plain (uncompressed) JSON is accepted on load, for hand-written state.
 */
export function createFileStateStore(path: string): StateStore {
  // The JSON last read or written: save() compares against it to skip a write.
  let lastJson: string | undefined;
  return {
    location: path,
    async load() {
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (cause) {
        if (isErrnoCode(cause, "ENOENT")) {
          const empty: AgentState = { apps: {} };
          lastJson = toStableJson(empty);
          return empty;
        }
        throw new Error(`${path}: cannot read agent state`, { cause });
      }
      try {
        const json = isGzip(bytes) ? gunzipSync(bytes).toString("utf8") : bytes.toString("utf8");
        const state = checkAgentState(JSON.parse(json));
        lastJson = toStableJson(state);
        return state;
      } catch (cause) {
        throw new Error(`${path}: corrupt agent state: ${messageOf(cause)}`, { cause });
      }
    },
    async save(state) {
      const json = toStableJson(state);
      if (json === lastJson) return;
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
      try {
        const file = await open(tmp, "wx", 0o600);
        try {
          await file.writeFile(gzipSync(json));
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(tmp, path);
      } catch (cause) {
        await rm(tmp, { force: true });
        throw new Error(`${path}: cannot save agent state`, { cause });
      }
      await syncDirectory(dirname(path));
      lastJson = json;
    },
  };
}

/**
 * A store in Secrets of `namespace`: `${namePrefix}-identity` for the identity and one
 * `${namePrefix}-app-<first 16 hex of sha256(app name)>` per app (the name in annotation
 * `flotilla.dev/app-name`), each labelled `flotilla.dev/agent-state=true` and holding
 * gzip-compressed JSON. load() lists the namespace's Secrets and keeps those with the label and
 * the prefix. save() writes only Secrets whose JSON differs from the last load/save (a save before
 * any load lists first), replaces existing ones unconditionally, and deletes the Secrets of apps
 * (or the identity) no longer present. An app record over 900 KiB compressed is not written: the
 * other Secrets are still saved, then save() rejects naming the app. Write failures likewise
 * reject after every other Secret was tried, naming each failed Secret.
 */
export function createSecretStateStore(
  kube: KubeClient,
  namespace: string,
  namePrefix = "flotilla-agent",
): StateStore {
  const identityName = `${namePrefix}-identity`;
  const appPrefix = `${namePrefix}-app-`;
  // Secret name -> the JSON it holds, as last read or written; undefined until first listed.
  let known: Map<string, string> | undefined;

  async function listStateSecrets(): Promise<KubeObject[]> {
    const resource = await kube.resourceFor("v1", "Secret");
    const { items } = await kube.list(resource, namespace);
    return items.filter(
      (s) =>
        s.metadata.labels?.[STATE_LABEL] === "true" &&
        (s.metadata.name === identityName || s.metadata.name?.startsWith(appPrefix)),
    );
  }

  async function load(): Promise<AgentState> {
    const secrets = await listStateSecrets();
    const state: AgentState = { apps: {} };
    const read = new Map<string, string>();
    for (const secret of secrets) {
      const name = secret.metadata.name ?? "";
      const where = `Secret/${namespace}/${name}`;
      let json: string;
      let value: unknown;
      try {
        json = decodeSecretData(secret);
        value = JSON.parse(json);
      } catch (cause) {
        throw new Error(`${where}: corrupt agent state: ${messageOf(cause)}`, { cause });
      }
      read.set(name, toStableJson(value));
      try {
        if (name === identityName) {
          state.identity = checkIdentity(value);
          continue;
        }
        const record = checkAppRecord(value, "record");
        const appName = record.desired.name;
        if (appName === "__proto__") throw new Error("holds app __proto__, not a usable app name");
        if (name !== appSecretName(appName)) {
          throw new Error(`holds app "${appName}", whose state belongs in ${appSecretName(appName)}`);
        }
        state.apps[appName] = record;
      } catch (cause) {
        throw new Error(`${where}: corrupt agent state: ${messageOf(cause)}`, { cause });
      }
    }
    known = read;
    return state;
  }

  function appSecretName(app: string): string {
    return `${appPrefix}${createHash("sha256").update(app).digest("hex").slice(0, 16)}`;
  }

  async function save(state: AgentState): Promise<void> {
    if (known === undefined) await load();
    const current = known ?? new Map<string, string>();
    const wanted = new Map<string, { json: string; appName?: string }>();
    if (state.identity) wanted.set(identityName, { json: toStableJson(state.identity) });
    for (const [appName, record] of Object.entries(state.apps)) {
      if (record.desired.name !== appName) {
        throw new Error(`${location}: app record "${appName}" holds desired app "${record.desired.name}"`);
      }
      wanted.set(appSecretName(appName), { json: toStableJson(record), appName });
    }

    const failures: string[] = [];
    const causes: unknown[] = [];
    for (const [name, { json, appName }] of wanted) {
      if (current.get(name) === json) continue;
      const data = gzipSync(json);
      if (data.length > MAX_APP_RECORD_COMPRESSED_BYTES) {
        failures.push(
          `app "${appName}": state is ${data.length} bytes compressed, over the ${MAX_APP_RECORD_COMPRESSED_BYTES}-byte limit of a state Secret`,
        );
        continue;
      }
      try {
        await writeSecret(name, data, appName, current.has(name));
        current.set(name, json);
      } catch (cause) {
        failures.push(`Secret/${namespace}/${name}: ${messageOf(cause)}`);
        causes.push(cause);
      }
    }
    for (const name of [...current.keys()]) {
      if (wanted.has(name)) continue;
      try {
        await kube.delete("v1", { group: "", kind: "Secret", namespace, name });
        current.delete(name);
      } catch (cause) {
        failures.push(`Secret/${namespace}/${name}: delete: ${messageOf(cause)}`);
        causes.push(cause);
      }
    }
    if (failures.length > 0) {
      throw new Error(`${location}: cannot save agent state: ${failures.join("; ")}`, {
        cause: causes.length === 1 ? causes[0] : new AggregateError(causes),
      });
    }
  }

  async function writeSecret(name: string, data: Buffer, appName: string | undefined, exists: boolean) {
    const secret: KubeObject = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name,
        namespace,
        labels: { [STATE_LABEL]: "true" },
        ...(appName === undefined ? {} : { annotations: { [APP_NAME_ANNOTATION]: appName } }),
      },
      type: "Opaque",
      data: { [SECRET_DATA_KEY]: data.toString("base64") },
    };
    const options = { fieldManager: FIELD_MANAGER };
    // Try the likely verb first, and the other one when someone else created or deleted it meanwhile.
    if (exists) {
      try {
        await kube.replace(secret, options);
      } catch (error) {
        if (!(error instanceof KubeError && error.reason === "NotFound")) throw error;
        await kube.create(secret, options);
      }
    } else {
      try {
        await kube.create(secret, options);
      } catch (error) {
        if (!(error instanceof KubeError && error.reason === "AlreadyExists")) throw error;
        await kube.replace(secret, options);
      }
    }
  }

  const location = `secrets://${namespace}/${namePrefix}`;
  return { location, load, save };
}

function decodeSecretData(secret: KubeObject): string {
  const data = secret.data;
  const encoded =
    typeof data === "object" && data !== null
      ? (data as Record<string, unknown>)[SECRET_DATA_KEY]
      : undefined;
  if (typeof encoded !== "string") throw new Error(`no data key ${SECRET_DATA_KEY}`);
  return gunzipSync(Buffer.from(encoded, "base64")).toString("utf8");
}

/** Checks the shape a corrupt or foreign file would break; the contents are trusted beyond that. */
function checkAgentState(value: unknown): AgentState {
  if (!isPlainObject(value)) throw new Error("not a JSON object");
  if (!isPlainObject(value.apps)) throw new Error("apps: not an object");
  const state: AgentState = { apps: {} };
  if (value.identity !== undefined) state.identity = checkIdentity(value.identity);
  for (const [name, record] of Object.entries(value.apps)) {
    // Assigning it would replace the prototype of `apps` and lose the app.
    if (name === "__proto__") throw new Error("apps.__proto__: not a usable app name");
    const checked = checkAppRecord(record, `apps.${name}`);
    if (checked.desired.name !== name)
      throw new Error(`apps.${name}: holds desired app "${checked.desired.name}"`);
    state.apps[name] = checked;
  }
  return state;
}

function checkIdentity(value: unknown): NonNullable<AgentState["identity"]> {
  if (!isPlainObject(value)) throw new Error("identity: not an object");
  for (const field of ["clusterName", "hubUrl", "credential", "caHash"]) {
    if (typeof value[field] !== "string") throw new Error(`identity.${field}: not a string`);
  }
  return value as NonNullable<AgentState["identity"]>;
}

function checkAppRecord(value: unknown, where: string): AppRecord {
  if (!isPlainObject(value)) throw new Error(`${where}: not an object`);
  const desired = value.desired;
  if (!isPlainObject(desired) || typeof desired.name !== "string" || !Array.isArray(desired.objects)) {
    throw new Error(`${where}.desired: not a desired app`);
  }
  if (value.syncedDigest !== undefined && typeof value.syncedDigest !== "string") {
    throw new Error(`${where}.syncedDigest: not a string`);
  }
  if (!Array.isArray(value.inventory)) throw new Error(`${where}.inventory: not a list`);
  value.inventory.forEach((entry, i) => {
    if (!isPlainObject(entry) || typeof entry.apiVersion !== "string" || !isPlainObject(entry.key)) {
      throw new Error(`${where}.inventory[${i}]: not an inventory entry`);
    }
  });
  return value as AppRecord;
}

/** fsync the directory so the rename survives a crash; not possible everywhere (Windows). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Best effort: the rename itself is already atomic.
  }
}

/**
 * JSON with object keys sorted at every level, so a state rebuilt in another key order still
 * compares equal to what was stored and causes no write.
 */
function toStableJson(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) => {
    if (!isPlainObject(field)) return field;
    const sorted: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(field).sort()) sorted[key] = field[key];
    return sorted;
  });
}

function isGzip(bytes: Buffer): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function isErrnoCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
