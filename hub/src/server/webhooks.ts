/**
 * Git push webhooks from GitHub, GitLab and Gitea, modelled on Argo CD's `/api/webhook`: a push
 * refreshes the sources that track the pushed repository and ref now, instead of at their next
 * poll. The payload is untrusted: it only picks which sources to refresh, and each of those
 * must accept the request's signature with its own webhook secret.
 *
 *   POST /webhooks/github  X-GitHub-Event: push|ping   X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>
 *   POST /webhooks/gitlab  X-Gitlab-Event: Push Hook|Tag Push Hook   X-Gitlab-Token: <secret>
 *   POST /webhooks/gitea   X-Gitea-Event: push   X-Gitea-Signature: <HMAC-SHA256 hex>
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { normalizeRepoUrl, redactRepoUrl } from "../source/normalize-repo-url.js";
import type { Source } from "../store/store.js";
import type { HubRuntime } from "./hub-runtime.js";

export type WebhookProvider = "github" | "gitlab" | "gitea";

export type WebhookOptions = {
  /** Largest request body accepted, in bytes; a larger one is answered 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Refresh sources that have no webhook secret on any push for them. Default false: such a
   * source is not refreshed, and the answer says it has no webhook secret configured.
   */
  allowUnsigned?: boolean;
};

/** What a push payload says, whatever the provider. */
export type PushEvent = {
  /** Every URL of the pushed repository the payload names, as given. */
  repoUrls: string[];
  /** `refs/heads/<branch>` or `refs/tags/<tag>`. */
  ref: string;
  /** The commit the ref points at after the push; "" when the payload has none. */
  after: string;
};

/** Why a matching source was not refreshed; recorded as the `reason` of a "webhook-rejected" event. */
export type WebhookRejection = "missing-signature" | "bad-signature" | "no-webhook-secret";

export const WEBHOOK_PATH_PREFIX = "/webhooks/";
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

type EventKind = "push" | "ping";

type ProviderSpec = {
  eventHeader: string;
  /** Event header values this endpoint acts on; any other event is answered 200 and ignored. */
  events: Readonly<Record<string, EventKind>>;
  signatureHeader: string;
  /** Payload paths of the repository URLs, as [object, field]. */
  urlFields: readonly (readonly [string, string])[];
  /** Whether `signature` (the header value) proves the sender knows `secret`; constant time. */
  verify(body: Buffer, signature: string, secret: string): boolean;
};

const PROVIDERS: Readonly<Record<WebhookProvider, ProviderSpec>> = {
  github: {
    eventHeader: "X-GitHub-Event",
    events: { push: "push", ping: "ping" },
    signatureHeader: "X-Hub-Signature-256",
    urlFields: [
      ["repository", "html_url"],
      ["repository", "clone_url"],
      ["repository", "ssh_url"],
      ["repository", "git_url"],
    ],
    verify: (body, signature, secret) =>
      signature.startsWith("sha256=") && verifyHmacSha256(body, signature.slice("sha256=".length), secret),
  },
  gitlab: {
    eventHeader: "X-Gitlab-Event",
    events: { "Push Hook": "push", "Tag Push Hook": "push" },
    signatureHeader: "X-Gitlab-Token",
    urlFields: [
      ["project", "web_url"],
      ["project", "git_http_url"],
      ["project", "git_ssh_url"],
      ["repository", "homepage"],
    ],
    verify: (_body, signature, secret) => equalInConstantTime(signature, secret),
  },
  gitea: {
    eventHeader: "X-Gitea-Event",
    events: { push: "push" },
    signatureHeader: "X-Gitea-Signature",
    urlFields: [
      ["repository", "html_url"],
      ["repository", "clone_url"],
      ["repository", "ssh_url"],
    ],
    verify: (body, signature, secret) => verifyHmacSha256(body, signature, secret),
  },
};

type Reply = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

type Verdict =
  | { source: string; ok: true }
  | { source: string; ok: false; reason: WebhookRejection; message: string };

/**
 * The HTTP handler of `POST /webhooks/{github,gitlab,gitea}`; the caller routes every path
 * starting with `/webhooks/` to it. Answers (always JSON):
 * - 202 `{"refreshing": [ids]}` when a push refreshes sources (plus `rejected` when some matching
 *   sources refused it); the refreshes run on without being waited for, failures are logged;
 * - 200 `{"refreshing": [], "message"}` for a push no source tracks, a ping, or another event;
 * - 401 `{"error"}` when every matching source refused the signature (each refusal is recorded
 *   as a "webhook-rejected" event), 403 when they refused because they have no webhook secret;
 * - 400 malformed request, 404 unknown provider, 405 not POST, 413 body over `maxBodyBytes`.
 * No answer, log line or event carries a secret or an expected signature. Never rejects.
 */
export function createWebhookHandler(
  runtime: HubRuntime,
  options: WebhookOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const settings = {
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    allowUnsigned: options.allowUnsigned ?? false,
  };
  return async (req, res) => {
    let reply: Reply;
    try {
      reply = await handleWebhook(runtime, req, settings);
    } catch (error) {
      runtime.log("error", "webhook failed", { path: pathOf(req), error });
      reply = { status: 500, body: { error: "webhook: internal error, see the hub log" } };
    }
    sendJson(res, reply);
  };
}

/**
 * Whether a source with `targetRevision` tracks a push to `ref`: HEAD (or empty) tracks every
 * branch, since a payload does not reliably say which branch HEAD is; otherwise the revision
 * must equal the full ref or its short name (so `x` tracks both branch `x` and tag `x`).
 */
export function tracksRef(targetRevision: string, ref: string): boolean {
  const target = targetRevision.trim();
  if (target === "" || target === "HEAD") return ref.startsWith("refs/heads/");
  return target === ref || target === ref.replace(/^refs\/(?:heads|tags)\//, "");
}

/** The repository URLs, ref and commit of a push payload, or why it has none. */
export function readPushEvent(provider: WebhookProvider, payload: unknown): PushEvent | { error: string } {
  if (!isRecord(payload)) return { error: "payload is not a JSON object" };
  const repoUrls: string[] = [];
  for (const [object, field] of PROVIDERS[provider].urlFields) {
    const holder = payload[object];
    const url = isRecord(holder) ? holder[field] : undefined;
    if (typeof url === "string" && url.trim() !== "" && !repoUrls.includes(url)) repoUrls.push(url);
  }
  if (repoUrls.length === 0) {
    const fields = PROVIDERS[provider].urlFields.map(([object, field]) => `${object}.${field}`).join(", ");
    return { error: `payload has no repository URL (${fields})` };
  }
  const { ref, after } = payload;
  if (typeof ref !== "string" || !ref.startsWith("refs/"))
    return { error: "payload has no ref (refs/heads/... or refs/tags/...)" };
  return { repoUrls, ref, after: typeof after === "string" ? after : "" };
}

async function handleWebhook(
  runtime: HubRuntime,
  req: IncomingMessage,
  settings: Required<WebhookOptions>,
): Promise<Reply> {
  const path = pathOf(req);
  const name = path.slice(WEBHOOK_PATH_PREFIX.length).replace(/\/+$/, "");
  if (!path.startsWith(WEBHOOK_PATH_PREFIX) || !Object.hasOwn(PROVIDERS, name)) {
    return fail(
      404,
      `no webhook endpoint ${path}; use /webhooks/github, /webhooks/gitlab or /webhooks/gitea`,
    );
  }
  const provider = name as WebhookProvider;
  const spec = PROVIDERS[provider];
  if (req.method !== "POST") {
    return {
      ...fail(405, `${provider} webhook: method ${req.method} not allowed, use POST`),
      headers: { allow: "POST" },
    };
  }

  const body = await readBody(req, settings.maxBodyBytes);
  if (body === undefined) {
    return {
      ...fail(413, `${provider} webhook: body larger than ${settings.maxBodyBytes} bytes`),
      // The rest of the body is discarded; closing the connection bounds how much of it we read.
      headers: { connection: "close" },
    };
  }

  const event = headerOf(req, spec.eventHeader);
  if (event === "") return fail(400, `${provider} webhook: missing ${spec.eventHeader} header`);
  const kind = Object.hasOwn(spec.events, event) ? spec.events[event] : undefined;
  if (kind === "ping") return { status: 200, body: { refreshing: [], message: `${provider} ping received` } };
  if (kind === undefined) {
    const handled = Object.keys(spec.events).join(", ");
    return {
      status: 200,
      body: {
        refreshing: [],
        message: `${provider} event "${event}" ignored; only ${handled} refresh sources`,
      },
    };
  }

  let payload: unknown;
  try {
    payload = parsePayload(body, headerOf(req, "content-type"));
  } catch (error) {
    return fail(
      400,
      `${provider} push: body is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const push = readPushEvent(provider, payload);
  if ("error" in push) return fail(400, `${provider} push: ${push.error}`);

  const matched = findTrackingSources(await runtime.store.sources.list(), push);
  if (matched.length === 0) {
    const urls = push.repoUrls.map(redactRepoUrl).join(", ");
    return { status: 200, body: { refreshing: [], message: `no source matches ${urls} at ${push.ref}` } };
  }

  const signature = headerOf(req, spec.signatureHeader);
  const verdicts = await Promise.all(
    matched.map((source) => judgeSource(runtime, provider, source, body, signature, settings.allowUnsigned)),
  );
  const refreshing = verdicts.filter((verdict) => verdict.ok).map((verdict) => verdict.source);
  const rejected = verdicts.flatMap((verdict) => (verdict.ok ? [] : [verdict]));
  await Promise.all(rejected.map((verdict) => recordRejection(runtime, provider, push, verdict)));

  for (const source of refreshing) {
    // Not awaited: a resolve can take minutes and the Git host gives up on a webhook after ~10s.
    runtime
      .refresh({ source })
      .catch((error: unknown) => runtime.log("warn", "webhook refresh failed", { provider, source, error }));
  }
  if (refreshing.length > 0) {
    runtime.log("info", "webhook push refreshes sources", {
      provider,
      ref: push.ref,
      after: push.after,
      sources: refreshing,
    });
    const reply: Reply = { status: 202, body: { refreshing } };
    if (rejected.length > 0) reply.body.rejected = rejected.map(({ source, reason }) => ({ source, reason }));
    return reply;
  }
  const unsigned = rejected.every((verdict) => verdict.reason === "no-webhook-secret");
  return {
    status: unsigned ? 403 : 401,
    body: {
      error: rejected.map((verdict) => verdict.message).join("; "),
      rejected: rejected.map(({ source, reason }) => ({ source, reason })),
    },
  };
}

/** Sources whose repository is one of the push's URLs and whose revision tracks its ref, by id. */
function findTrackingSources(sources: Source[], push: PushEvent): Source[] {
  // Compared without case: GitHub, GitLab and Gitea resolve owner and repository names
  // case-insensitively, and a payload spells them canonically, not as the source was typed.
  const urls = new Set(push.repoUrls.map((url) => normalizeRepoUrl(url).toLowerCase()));
  return sources
    .filter((source) => urls.has(normalizeRepoUrl(source.repoUrl).toLowerCase()))
    .filter((source) => tracksRef(source.targetRevision, push.ref))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

async function judgeSource(
  runtime: HubRuntime,
  provider: WebhookProvider,
  source: Source,
  body: Buffer,
  signature: string,
  allowUnsigned: boolean,
): Promise<Verdict> {
  const header = PROVIDERS[provider].signatureHeader;
  const secret = await runtime.store.sources.getWebhookSecret(source.id);
  if (secret === null || secret === "") {
    if (allowUnsigned) return { source: source.id, ok: true };
    return {
      source: source.id,
      ok: false,
      reason: "no-webhook-secret",
      message: `${provider} push: source "${source.id}" has no webhook secret configured, so it is not refreshed on push (set one, or allow unsigned webhooks)`,
    };
  }
  if (signature === "") {
    return {
      source: source.id,
      ok: false,
      reason: "missing-signature",
      message: `${provider} push: source "${source.id}" has a webhook secret but the request has no ${header} header`,
    };
  }
  if (!PROVIDERS[provider].verify(body, signature, secret)) {
    return {
      source: source.id,
      ok: false,
      reason: "bad-signature",
      message: `${provider} push: ${header} does not match the webhook secret of source "${source.id}"`,
    };
  }
  return { source: source.id, ok: true };
}

async function recordRejection(
  runtime: HubRuntime,
  provider: WebhookProvider,
  push: PushEvent,
  verdict: Extract<Verdict, { ok: false }>,
): Promise<void> {
  runtime.log("warn", "webhook push rejected", { provider, source: verdict.source, reason: verdict.reason });
  try {
    await runtime.store.events.append({
      type: "webhook-rejected",
      message: verdict.message,
      data: { source: verdict.source, provider, reason: verdict.reason, ref: push.ref },
    });
  } catch (error) {
    // The refusal stands either way; a lost audit event is worth a log line, not a 500.
    runtime.log("error", "recording a webhook-rejected event failed", { source: verdict.source, error });
  }
}

/** The body, or undefined when it is larger than `maxBytes` (the rest is then read and dropped). */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      stop();
      req.resume();
      resolve(undefined);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      stop();
      reject(new Error("webhook: reading the request body failed", { cause: error }));
    };
    const onClose = () => onError(new Error("connection closed before the body ended"));
    const stop = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/**
 * JSON, or GitHub's `application/x-www-form-urlencoded` form whose `payload` field holds the
 * JSON (the signature covers the raw body in both cases).
 */
function parsePayload(body: Buffer, contentType: string): unknown {
  const text = body.toString("utf8");
  if (contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    const payload = new URLSearchParams(text).get("payload");
    if (payload === null) throw new Error("form body has no payload field");
    return JSON.parse(payload);
  }
  return JSON.parse(text);
}

function verifyHmacSha256(body: Buffer, hex: string, secret: string): boolean {
  const given = hex.trim();
  if (!/^[0-9a-f]{64}$/i.test(given)) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(given, "hex"));
}

/** String equality that takes the same time wherever the strings differ, whatever their lengths. */
function equalInConstantTime(given: string, secret: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();
  return timingSafeEqual(digest(given), digest(secret));
}

function headerOf(req: IncomingMessage, name: string): string {
  const value = req.headers[name.toLowerCase()];
  return (Array.isArray(value) ? (value[0] ?? "") : (value ?? "")).trim();
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? "/").replace(/[?#].*$/, "");
}

function fail(status: number, error: string): Reply {
  return { status, body: { error } };
}

function sendJson(res: ServerResponse, reply: Reply): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...reply.headers,
  });
  res.end(text);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
