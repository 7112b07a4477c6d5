import {
  Agent as HttpAgent,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request as requestHttp,
} from "node:http";
import { Agent as HttpsAgent, request as requestHttps } from "node:https";
import { buildQuery, buildResourcePath } from "./build-resource-path.js";
import {
  type KubeClient,
  KubeError,
  type RequestCounts,
  type ResourceInfo,
  type WatchHandle,
} from "./kube-client.js";
import { groupOf, type KubeObject, type ObjectKey, subject } from "./kube-object.js";
import type { KubeConfig, KubeCredentials, KubeTls } from "./load-kube-config.js";
import { mapConnectionError, mapResponseError } from "./map-response-error.js";
import { discoveryAccept, readDiscovery } from "./read-discovery.js";
import { type RawWatchEvent, watchResource } from "./watch-resource.js";

export type KubeClientOptions = {
  /** Least time between two discovery refreshes caused by unknown kinds; default 30_000. */
  discoveryRefreshMs?: number;
  /** Deadline of each request except watches, from sending to the whole answer; default 30_000. */
  requestTimeoutMs?: number;
  /** Cap of the delay between failed watch attempts; default 30_000. */
  watchBackoffMaxMs?: number;
  /**
   * The server ends each watch request after this long and the watch resumes from its last
   * resourceVersion; a watch silent for 30 s longer counts as broken. Default 300.
   */
  watchTimeoutSeconds?: number;
  /** Most connections for requests other than watches (each watch has its own); default 32. */
  maxConnections?: number;
};

type Reply = { status: number; body: string };

type Call = {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path and query, below the server URL. */
  path: string;
  subject: string;
  body?: string;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
};

/** TLS settings, sockets and credentials, prepared on the first request. */
type Connection = {
  agent: HttpAgent;
  watchAgent: HttpAgent;
  send: typeof requestHttps;
  headers(): Promise<OutgoingHttpHeaders>;
};

const jsonType = "application/json";
const applyPatchType = "application/apply-patch+yaml";
const listPageSize = 500;

/**
 * A KubeClient over raw HTTP(S) with keep-alive connections, using the kubeconfig's TLS settings
 * and credentials. Discovery (aggregated where the server offers it) is cached: a kind it does not
 * know triggers at most one refresh per `discoveryRefreshMs` (sooner after `invalidateDiscovery`).
 * `apply` sends the object as given except `metadata.managedFields`, which server-side apply
 * rejects; a `resourceVersion` in it makes the apply conditional.
 */
export function createKubeClient(config: KubeConfig, options: KubeClientOptions = {}): KubeClient {
  const discoveryRefreshMs = options.discoveryRefreshMs ?? 30_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
  const server = config.server;
  const base = config.serverUrl;
  const hostname = base.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = base.port || (base.protocol === "https:" ? "443" : "80");
  const basePath = base.pathname.replace(/\/+$/, "");
  const counts: RequestCounts = { get: 0, list: 0, watch: 0, writes: 0, dryRuns: 0 };

  let connection: Promise<Connection> | undefined;
  const connect = () => {
    connection ??= prepareConnection(config, base.protocol === "https:", options.maxConnections ?? 32).catch(
      (cause: unknown) => {
        connection = undefined;
        throw new KubeError(
          `API server ${server}: cannot prepare credentials (${describeCause(cause)})`,
          "Unknown",
        );
      },
    );
    return connection;
  };

  /** Resolves to a function that starts the request, so listeners attach in the same tick. */
  const prepare = async (call: Call, agentOf: (c: Connection) => HttpAgent = (c) => c.agent) => {
    const conn = await connect();
    let credentials: OutgoingHttpHeaders;
    try {
      credentials = await conn.headers();
    } catch (cause) {
      throw new KubeError(
        `${call.subject}: cannot get credentials (${describeCause(cause)})`,
        "Unauthorized",
      );
    }
    const headers: OutgoingHttpHeaders = { ...credentials, accept: call.accept ?? jsonType };
    if (call.body !== undefined) {
      headers["content-type"] = call.contentType ?? jsonType;
      headers["content-length"] = Buffer.byteLength(call.body);
    }
    const agent = agentOf(conn);
    return () =>
      conn.send({ hostname, port, path: `${basePath}${call.path}`, method: call.method, headers, agent });
  };

  /** Sends one request and reads the whole answer; rejects only when there is no answer. */
  const send = async (call: Call): Promise<Reply> => {
    const start = await prepare(call);
    return new Promise<Reply>((resolve, reject) => {
      const req = start();
      let settled = false;
      const finish = (error: unknown, reply?: Reply) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        call.signal?.removeEventListener("abort", abort);
        if (reply) resolve(reply);
        else reject(mapConnectionError(call.subject, server, error));
      };
      const abort = () => req.destroy(Object.assign(new Error("aborted"), { code: "ABORTED" }));
      const timer = setTimeout(
        () =>
          req.destroy(
            Object.assign(new Error("timeout"), { code: `timed out after ${requestTimeoutMs} ms` }),
          ),
        requestTimeoutMs,
      );
      call.signal?.addEventListener("abort", abort, { once: true });
      req.on("error", (error) => finish(error));
      if (call.signal?.aborted) abort();
      req.once("response", (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", (error) => finish(error));
        res.once("end", () =>
          finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      });
      req.end(call.body);
    });
  };

  /** Sends and parses a 2xx JSON answer; throws the mapped KubeError otherwise. */
  const sendJson = async <T>(call: Call): Promise<T> => {
    const reply = await send(call);
    if (reply.status < 200 || reply.status > 299)
      throw mapResponseError(call.subject, reply.status, reply.body);
    return parseReply<T>(call.subject, reply);
  };

  // Discovery ----------------------------------------------------------------------------------

  let resources: Map<string, ResourceInfo> | undefined;
  let refreshedAt = Number.NEGATIVE_INFINITY;
  /** Bumped by invalidateDiscovery; a refresh started before the bump does not satisfy a miss after it. */
  let generation = 0;
  /** The generation the cached `resources` were loaded at. */
  let appliedGeneration = -1;
  let refreshing: { generation: number; done: Promise<void> } | undefined;

  const fetchDiscovery = async (path: string): Promise<ReturnType<typeof readDiscovery>> => {
    counts.get += 1;
    return readDiscovery(
      await sendJson({ method: "GET", path, subject: `discovery ${path}`, accept: discoveryAccept }),
    );
  };

  const loadResources = async (): Promise<Map<string, ResourceInfo>> => {
    const roots = await Promise.all(["/api", "/apis"].map(fetchDiscovery));
    const found = roots.flatMap((doc) => doc.resources);
    const groupVersions = roots.flatMap((doc) => doc.groupVersions);
    // Legacy discovery: one request per group version. One that fails (an aggregated API server
    // that is down) leaves its kinds unknown rather than failing every lookup.
    const lists = await Promise.allSettled(
      groupVersions.map((gv) => fetchDiscovery(gv.includes("/") ? `/apis/${gv}` : `/api/${gv}`)),
    );
    for (const list of lists) if (list.status === "fulfilled") found.push(...list.value.resources);
    const byKind = new Map<string, ResourceInfo>();
    for (const info of found) {
      const key = discoveryKey(info.group, info.version, info.kind);
      if (!byKind.has(key)) byKind.set(key, info);
    }
    return byKind;
  };

  const refreshDiscovery = (): Promise<void> => {
    if (refreshing && refreshing.generation === generation) return refreshing.done;
    const started = { generation, done: Promise.resolve() };
    started.done = loadResources().then(
      (loaded) => {
        if (refreshing === started) refreshing = undefined;
        if (started.generation >= appliedGeneration) {
          resources = loaded;
          appliedGeneration = started.generation;
          refreshedAt = Date.now();
        }
      },
      (error: unknown) => {
        if (refreshing === started) refreshing = undefined;
        throw error;
      },
    );
    refreshing = started;
    return started.done;
  };

  const resourceFor = async (apiVersion: string, kind: string): Promise<ResourceInfo> => {
    const group = groupOf(apiVersion);
    const version = apiVersion.slice(apiVersion.indexOf("/") + 1);
    const key = discoveryKey(group, version, kind);
    const cached = resources?.get(key);
    if (cached) return cached;
    const stale =
      !resources || appliedGeneration < generation || Date.now() - refreshedAt >= discoveryRefreshMs;
    if (stale) {
      await refreshDiscovery();
      const found = resources?.get(key);
      if (found) return found;
    }
    throw new KubeError(`no kind "${kind}" in ${apiVersion} on the API server`, "NoKind");
  };

  /** resourceFor for an operation on `what`: a NoKind error then names the object. */
  const resourceOf = async (apiVersion: string, kind: string, what: string): Promise<ResourceInfo> => {
    try {
      return await resourceFor(apiVersion, kind);
    } catch (error) {
      if (error instanceof KubeError && error.reason === "NoKind") {
        throw new KubeError(`${what}: ${error.message}`, "NoKind", undefined, { cause: error });
      }
      throw error;
    }
  };

  /** The object path of `obj`, checking it names itself and its namespace where the kind needs one. */
  const objectTarget = async (obj: KubeObject, needsName: boolean) => {
    const what = subject(obj);
    const resource = await resourceOf(obj.apiVersion, obj.kind, what);
    const namespace = obj.metadata.namespace ?? "";
    if (resource.namespaced && !namespace) {
      throw new KubeError(`${what}: ${obj.kind} is namespaced but the object has no namespace`, "Invalid");
    }
    if (needsName && !obj.metadata.name) throw new KubeError(`${what}: the object has no name`, "Invalid");
    return { what, resource, namespace };
  };

  const keyTarget = async (apiVersion: string, key: ObjectKey) => {
    const what = subject(key);
    const resource = await resourceOf(apiVersion, key.kind, what);
    if (resource.namespaced && !key.namespace) {
      throw new KubeError(`${what}: ${key.kind} is namespaced but the key has no namespace`, "Invalid");
    }
    if (!key.name) throw new KubeError(`${what}: the key has no name`, "Invalid");
    return { what, path: buildResourcePath(resource, key.namespace, key.name) };
  };

  const countWrite = (dryRun: boolean | undefined) => {
    if (dryRun) counts.dryRuns += 1;
    else counts.writes += 1;
  };

  // Lists and watches ---------------------------------------------------------------------------

  const listAll = async (resource: ResourceInfo, namespace: string | undefined, signal?: AbortSignal) => {
    const what = collectionSubject(resource, namespace);
    const items: KubeObject[] = [];
    let resourceVersion = "";
    let next: string | undefined;
    do {
      counts.list += 1;
      const page = await sendJson<{
        items?: KubeObject[];
        metadata?: { resourceVersion?: string; continue?: string };
      }>({
        method: "GET",
        path: `${buildResourcePath(resource, namespace)}${buildQuery({ limit: listPageSize, continue: next })}`,
        subject: what,
        signal,
      });
      // Items of a list carry neither apiVersion nor kind.
      const apiVersion = resource.group ? `${resource.group}/${resource.version}` : resource.version;
      for (const item of page.items ?? []) items.push({ ...item, apiVersion, kind: resource.kind });
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      next = page.metadata?.continue || undefined;
    } while (next);
    return { items, resourceVersion };
  };

  const openWatch = async (
    resource: ResourceInfo,
    namespace: string | undefined,
    resourceVersion: string,
    signal: AbortSignal,
    sink: { onOpen(): void; onEvent(event: RawWatchEvent): void },
  ): Promise<void> => {
    const what = collectionSubject(resource, namespace);
    counts.watch += 1;
    const query = buildQuery({
      watch: 1,
      resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: watchTimeoutSeconds,
    });
    const call: Call = {
      method: "GET",
      path: `${buildResourcePath(resource, namespace)}${query}`,
      subject: what,
    };
    const start = await prepare(call, (c) => c.watchAgent);
    return new Promise<void>((resolve, reject) => {
      const req = start();
      let settled = false;
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(stallTimer);
        signal.removeEventListener("abort", abort);
        if (error === undefined) return resolve();
        req.destroy();
        reject(error);
      };
      const abort = () => finish(new KubeError(`${what}: watch stopped`, "Unknown"));
      const stallTimer = setTimeout(
        () =>
          finish(
            new KubeError(
              `${what}: watch still open ${watchTimeoutSeconds + 30} s after it should have ended`,
              "Unavailable",
            ),
          ),
        (watchTimeoutSeconds + 30) * 1000,
      );
      req.on("error", (error) => finish(mapConnectionError(what, server, error)));
      if (signal.aborted) return abort();
      signal.addEventListener("abort", abort, { once: true });
      req.once("response", (res: IncomingMessage) => {
        res.on("error", () => {
          // "close" below decides; without a listener the error would be thrown.
        });
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.once("end", () =>
            finish(mapResponseError(what, res.statusCode ?? 0, Buffer.concat(chunks).toString())),
          );
          res.once("close", () => finish(mapConnectionError(what, server, { code: "ECONNRESET" })));
          return;
        }
        try {
          sink.onOpen();
        } catch (error) {
          return finish(error);
        }
        res.setEncoding("utf8");
        let pending = "";
        res.on("data", (chunk: string) => {
          pending += chunk;
          for (let end = pending.indexOf("\n"); end >= 0 && !settled; end = pending.indexOf("\n")) {
            const line = pending.slice(0, end);
            pending = pending.slice(end + 1);
            if (!line.trim()) continue;
            try {
              sink.onEvent(JSON.parse(line) as RawWatchEvent);
            } catch (error) {
              return finish(error);
            }
          }
        });
        res.once("close", () =>
          finish(res.complete ? undefined : mapConnectionError(what, server, { code: "ECONNRESET" })),
        );
      });
      req.end();
    });
  };

  return {
    server,

    resourceFor,

    invalidateDiscovery() {
      generation += 1;
    },

    async serverVersion() {
      counts.get += 1;
      const version = await sendJson<{ gitVersion?: unknown }>({
        method: "GET",
        path: "/version",
        subject: "version",
      });
      return typeof version.gitVersion === "string" ? version.gitVersion : "";
    },

    async get(apiVersion, key) {
      const { what, path } = await keyTarget(apiVersion, key);
      counts.get += 1;
      const reply = await send({ method: "GET", path, subject: what });
      if (reply.status === 404) return undefined;
      if (reply.status !== 200) throw mapResponseError(what, reply.status, reply.body);
      return parseReply<KubeObject>(what, reply);
    },

    list(resource, namespace) {
      return listAll(resource, namespace);
    },

    async apply(obj, applyOptions) {
      const { what, resource, namespace } = await objectTarget(obj, true);
      const { managedFields: _dropped, ...metadata } = obj.metadata;
      countWrite(applyOptions.dryRun);
      return sendJson<KubeObject>({
        method: "PATCH",
        path: `${buildResourcePath(resource, namespace, obj.metadata.name)}${buildQuery({
          fieldManager: applyOptions.fieldManager,
          force: applyOptions.force ? true : undefined,
          dryRun: applyOptions.dryRun ? "All" : undefined,
          fieldValidation: applyOptions.fieldValidation ?? "Strict",
        })}`,
        subject: what,
        // JSON is YAML: the apply patch needs no YAML serializer.
        body: JSON.stringify({ ...obj, metadata }),
        contentType: applyPatchType,
      });
    },

    async create(obj, writeOptions) {
      const { what, resource, namespace } = await objectTarget(obj, false);
      countWrite(writeOptions.dryRun);
      return sendJson<KubeObject>({
        method: "POST",
        path: `${buildResourcePath(resource, namespace)}${writeQuery(writeOptions)}`,
        subject: what,
        body: JSON.stringify(obj),
      });
    },

    async replace(obj, writeOptions) {
      const { what, resource, namespace } = await objectTarget(obj, true);
      countWrite(writeOptions.dryRun);
      return sendJson<KubeObject>({
        method: "PUT",
        path: `${buildResourcePath(resource, namespace, obj.metadata.name)}${writeQuery(writeOptions)}`,
        subject: what,
        body: JSON.stringify(obj),
      });
    },

    async delete(apiVersion, key, deleteOptions = {}) {
      const { what, path } = await keyTarget(apiVersion, key);
      countWrite(deleteOptions.dryRun);
      const query = buildQuery({
        propagationPolicy: deleteOptions.propagationPolicy,
        dryRun: deleteOptions.dryRun ? "All" : undefined,
      });
      const reply = await send({ method: "DELETE", path: `${path}${query}`, subject: what });
      if (reply.status === 404) return;
      if (reply.status < 200 || reply.status > 299) throw mapResponseError(what, reply.status, reply.body);
    },

    watch(resource, namespace, handlers): WatchHandle {
      return watchResource(
        {
          list: (signal) => listAll(resource, namespace, signal),
          openWatch: (resourceVersion, signal, sink) =>
            openWatch(resource, namespace, resourceVersion, signal, sink),
        },
        handlers,
        { subject: collectionSubject(resource, namespace), backoffMaxMs: options.watchBackoffMaxMs },
      );
    },

    requestCounts() {
      return { ...counts };
    },
  };
}

/**
 * Builds the sockets from the kubeconfig's TLS settings once; credentials that can change (token
 * files, exec plugins, auth providers) are asked for per request.
 */
async function prepareConnection(
  config: KubeConfig,
  https: boolean,
  maxConnections: number,
): Promise<Connection> {
  const { tls, credentials }: { tls: KubeTls; credentials: KubeCredentials } = await config.connect();
  const agentOptions = { keepAlive: true, ...tls };
  const Agent = https ? HttpsAgent : HttpAgent;
  const agent = new Agent({ ...agentOptions, maxSockets: maxConnections });
  const watchAgent = new Agent(agentOptions);
  return { agent, watchAgent, send: https ? requestHttps : requestHttp, headers: credentials };
}

function parseReply<T>(what: string, reply: Reply): T {
  try {
    return JSON.parse(reply.body) as T;
  } catch (cause) {
    throw new KubeError(
      `${what}: the API server answered HTTP ${reply.status} with invalid JSON`,
      "Unknown",
      reply.status,
      {
        cause,
      },
    );
  }
}

function writeQuery(options: { fieldManager: string; dryRun?: boolean; fieldValidation?: string }): string {
  return buildQuery({
    fieldManager: options.fieldManager,
    dryRun: options.dryRun ? "All" : undefined,
    fieldValidation: options.fieldValidation ?? "Strict",
  });
}

function discoveryKey(group: string, version: string, kind: string): string {
  return `${group}/${version}/${kind}`;
}

/** `Kind/namespace/*`, or `Kind/*` across namespaces, for errors about a collection. */
function collectionSubject(resource: ResourceInfo, namespace: string | undefined): string {
  return resource.namespaced && namespace ? `${resource.kind}/${namespace}/*` : `${resource.kind}/*`;
}

function describeCause(cause: unknown): string {
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") return code;
  return cause instanceof Error ? cause.message : String(cause);
}
