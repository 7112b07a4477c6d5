/**
 * Kubeconfig loading without @kubernetes/client-node for what nearly every agent uses: a
 * ServiceAccount in the pod, or a kubeconfig with a token, a token file, a client certificate or
 * basic auth. Importing client-node costs the agent about 77 MiB of resident memory (its
 * generated API models load with its KubeConfig), more than half of the agent's budget
 * (DESIGN.md section 6: 100 MiB), so it is imported only for users whose credentials it must
 * produce: `exec` plugins and `auth-provider`s (OIDC, Azure, GCP).
 */
import { readFileSync } from "node:fs";
import type { OutgoingHttpHeaders } from "node:http";
import { dirname, isAbsolute, join } from "node:path";
import { parse as parseYaml } from "yaml";

/** The TLS settings of the connection to the API server. */
export type KubeTls = {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized?: boolean;
};

/** Request headers carrying the credentials; may change between calls (token files, exec plugins). */
export type KubeCredentials = () => Promise<OutgoingHttpHeaders>;

/** A loaded kubeconfig: which API server and how to authenticate. Pass it to `createKubeClient`. */
export type KubeConfig = {
  /** The API server URL without credentials, for messages. */
  readonly server: string;
  /** The API server URL as configured (a path prefix kept). */
  readonly serverUrl: URL;
  /** The context in use ("inCluster" for the pod's ServiceAccount). */
  readonly context: string;
  /** The context's cluster name; undefined in-cluster. */
  readonly clusterName?: string;
  /** TLS settings and credentials, read when the first request is prepared. */
  readonly connect: () => Promise<{ tls: KubeTls; credentials: KubeCredentials }>;
};

export type KubeConfigSource =
  | { kubeconfigPath: string; context?: string }
  /** The kubeconfig itself as YAML, for example built by a test or read from a Secret. */
  | { kubeconfigText: string; context?: string }
  /** The pod's ServiceAccount: KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount (or `serviceAccountDir`). */
  | { inCluster: true; serviceAccountDir?: string };

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** How long a token read from a file is used before it is read again (client-go: 1 minute). */
const TOKEN_FILE_TTL_MS = 60_000;

/**
 * Loads a kubeconfig (a file or text, its current context or `context`) or the in-cluster
 * ServiceAccount config. Throws an Error naming the file (never quoting its content) when it cannot
 * be read or parsed, names no such context, or its cluster has no server. Exec and auth-provider
 * credentials are resolved per request, by @kubernetes/client-node.
 */
export function loadKubeConfig(source: KubeConfigSource, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  if ("inCluster" in source) return inClusterConfig(env, source.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  let origin: string;
  let text: string;
  let baseDir: string | undefined;
  if ("kubeconfigPath" in source) {
    origin = `kubeconfig ${source.kubeconfigPath}`;
    text = readOrThrow(source.kubeconfigPath, `${origin}: cannot read`);
    baseDir = dirname(source.kubeconfigPath);
  } else {
    origin = "kubeconfig text";
    text = source.kubeconfigText;
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: false });
  } catch (error) {
    throw new Error(`${origin}: not a valid kubeconfig (${describeParseError(error)})`);
  }
  if (!isRecord(doc)) throw new Error(`${origin}: not a valid kubeconfig (not a mapping)`);

  const contextName = source.context ?? stringField(doc, "current-context");
  if (!contextName) throw new Error(`${origin}: no current-context and no context given`);
  const context = namedEntry(doc, "contexts", "context", contextName);
  if (!context) throw new Error(`${origin}: no context "${contextName}"`);
  const clusterName = stringField(context, "cluster") ?? "";
  const cluster = namedEntry(doc, "clusters", "cluster", clusterName);
  const serverText = cluster ? stringField(cluster, "server") : undefined;
  if (!cluster || !serverText)
    throw new Error(`${origin}: context "${contextName}" names no cluster with a server`);
  if (stringField(cluster, "proxy-url"))
    throw new Error(`${origin}: cluster "${clusterName}": proxy-url is not supported`);
  const serverUrl = parseServer(serverText, `${origin}: cluster "${clusterName}"`);
  const userName = stringField(context, "user");
  const user = userName === undefined ? {} : (namedEntry(doc, "users", "user", userName) ?? {});
  const where = (field: string) => `${origin}: ${field}`;
  const path = (value: string) => (baseDir && !isAbsolute(value) ? join(baseDir, value) : value);

  const connect = async () => {
    const tls: KubeTls = {};
    const ca = bytesField(cluster, "certificate-authority-data", "certificate-authority", path, where);
    if (ca) tls.ca = ca;
    if (cluster["insecure-skip-tls-verify"] === true) tls.rejectUnauthorized = false;
    const servername = stringField(cluster, "tls-server-name");
    if (servername) tls.servername = servername;
    const cert = bytesField(user, "client-certificate-data", "client-certificate", path, where);
    const key = bytesField(user, "client-key-data", "client-key", path, where);
    if (cert) tls.cert = cert;
    if (key) tls.key = key;
    if (isRecord(user.exec) || isRecord(user["auth-provider"])) {
      return { tls, credentials: await clientNodeCredentials(text, contextName, baseDir) };
    }
    return { tls, credentials: staticOrFileCredentials(user, path) };
  };
  return {
    server: describeServer(serverUrl),
    serverUrl,
    context: contextName,
    clusterName,
    connect,
  };
}

function inClusterConfig(env: NodeJS.ProcessEnv, serviceAccountDir: string): KubeConfig {
  const origin = "in-cluster config";
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error(
      `${origin}: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?)`,
    );
  }
  const caFile = join(serviceAccountDir, "ca.crt");
  const ca = Buffer.from(readOrThrow(caFile, `${origin}: cannot read CA file ${caFile}`));
  const serverUrl = new URL(`https://${host.includes(":") ? `[${host}]` : host}:${port}`);
  const tokenFile = join(serviceAccountDir, "token");
  return {
    server: describeServer(serverUrl),
    serverUrl,
    context: "inCluster",
    connect: async () => ({ tls: { ca }, credentials: tokenFileCredentials(tokenFile, origin) }),
  };
}

/** A token, a token file (re-read every minute: bound ServiceAccount tokens rotate), basic auth, or none. */
function staticOrFileCredentials(
  user: Record<string, unknown>,
  path: (value: string) => string,
): KubeCredentials {
  const token = stringField(user, "token");
  if (token) {
    const headers = { authorization: `Bearer ${token}` };
    return async () => headers;
  }
  const tokenFile = stringField(user, "tokenFile");
  if (tokenFile) return tokenFileCredentials(path(tokenFile), "kubeconfig user");
  const username = stringField(user, "username");
  const password = stringField(user, "password");
  if (username !== undefined && password !== undefined) {
    const headers = { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` };
    return async () => headers;
  }
  return async () => ({});
}

function tokenFileCredentials(file: string, origin: string): KubeCredentials {
  let cached: { headers: OutgoingHttpHeaders; readAt: number } | undefined;
  return async () => {
    if (!cached || Date.now() - cached.readAt > TOKEN_FILE_TTL_MS) {
      const token = readOrThrow(file, `${origin}: cannot read token file ${file}`).trim();
      cached = { headers: { authorization: `Bearer ${token}` }, readAt: Date.now() };
    }
    return cached.headers;
  };
}

/** Exec plugins and auth providers, through @kubernetes/client-node, imported only now. */
async function clientNodeCredentials(
  text: string,
  context: string,
  baseDir?: string,
): Promise<KubeCredentials> {
  const { KubeConfig: ClientKubeConfig } = await import("@kubernetes/client-node");
  const parsed = new ClientKubeConfig();
  parsed.loadFromString(text);
  if (baseDir) parsed.makePathsAbsolute(baseDir);
  parsed.setCurrentContext(context);
  return async () => {
    const options: { headers?: OutgoingHttpHeaders; auth?: string } = {};
    await parsed.applyToHTTPSOptions(options as Parameters<typeof parsed.applyToHTTPSOptions>[0]);
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
    if (options.auth) headers.authorization = `Basic ${Buffer.from(options.auth).toString("base64")}`;
    return headers;
  };
}

function parseServer(text: string, origin: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${origin}: server is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error(`${origin}: server must be https:// or http://`);
  }
  return url;
}

function describeServer(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

/** `name` in the list `listKey` of entries `{ name, <entryKey>: {...} }`. */
function namedEntry(
  doc: Record<string, unknown>,
  listKey: string,
  entryKey: string,
  name: string,
): Record<string, unknown> | undefined {
  const list = doc[listKey];
  if (!Array.isArray(list)) return undefined;
  for (const entry of list) {
    if (isRecord(entry) && entry.name === name) return isRecord(entry[entryKey]) ? entry[entryKey] : {};
  }
  return undefined;
}

/** Inline base64 data or a file; neither is quoted in an error. */
function bytesField(
  record: Record<string, unknown>,
  dataKey: string,
  fileKey: string,
  path: (value: string) => string,
  where: (field: string) => string,
): Buffer | undefined {
  const data = stringField(record, dataKey);
  if (data) return Buffer.from(data, "base64");
  const file = stringField(record, fileKey);
  if (file) return Buffer.from(readOrThrow(path(file), `${where(fileKey)}: cannot read ${path(file)}`));
  return undefined;
}

function stringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === "string" ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readOrThrow(path: string, message: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`${message} (${(error as { code?: string }).code ?? "unreadable"})`);
  }
}

/** A YAML error's message may quote the offending line, which may hold a token: keep its code and line. */
function describeParseError(error: unknown): string {
  const { code, linePos } = (error ?? {}) as { code?: string; linePos?: { line: number }[] };
  const line = linePos?.[0]?.line;
  return `${code ?? "YAML error"}${line === undefined ? "" : ` at line ${line}`}`;
}
