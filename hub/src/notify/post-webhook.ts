/**
 * One webhook delivery with retries: POST a JSON body; a 2xx answer is delivered; 429, 5xx,
 * timeouts and network errors are retried with exponential backoff (1 s, 2 s, 4 s, ... at most
 * 60 s, or a longer Retry-After up to 60 s); any other answer fails at once. The outcome never
 * carries the URL, a header value or the response body, which can echo the URL.
 */
import { setTimeout as sleep } from "node:timers/promises";

export type WebhookRequest = {
  /** A secret: never logged. */
  url: string;
  /** Values are secrets. */
  headers: Readonly<Record<string, string>>;
  body: string;
};

export type PostOptions = {
  fetch: typeof fetch;
  userAgent: string;
  timeoutMs: number;
  maxAttempts: number;
  /** Aborting stops at once; postWebhook then rejects with the abort reason. */
  signal: AbortSignal;
  /** Delay before attempt `attempt + 1`; default backoffMs. */
  retryDelayMs?: (attempt: number) => number;
};

export type WebhookOutcome = {
  delivered: boolean;
  attempts: number;
  /** The last HTTP status; 0 when no answer came. */
  status: number;
  /** "HTTP 200", "HTTP 500", "timed out after 10000 ms", "network error ECONNREFUSED". */
  reason: string;
};

const MAX_DELAY_MS = 60_000;

/** 1 s before the second attempt, doubling, at most 60 s. */
export function backoffMs(attempt: number): number {
  return Math.min(1_000 * 2 ** (attempt - 1), MAX_DELAY_MS);
}

export async function postWebhook(request: WebhookRequest, options: PostOptions): Promise<WebhookOutcome> {
  const delayFor = options.retryDelayMs ?? backoffMs;
  let outcome: WebhookOutcome = { delivered: false, attempts: 0, status: 0, reason: "not attempted" };
  for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
    const answer = await attemptOnce(request, options);
    outcome = {
      delivered: answer.delivered,
      attempts: attempt,
      status: answer.status,
      reason: answer.reason,
    };
    if (answer.delivered || !answer.retry || attempt === options.maxAttempts) break;
    const delay = Math.max(delayFor(attempt), Math.min(answer.retryAfterMs ?? 0, MAX_DELAY_MS));
    await sleep(delay, undefined, { signal: options.signal });
  }
  return outcome;
}

type Answer = Omit<WebhookOutcome, "attempts"> & { retry: boolean; retryAfterMs?: number };

async function attemptOnce(request: WebhookRequest, options: PostOptions): Promise<Answer> {
  options.signal.throwIfAborted();
  const timeout = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  try {
    response = await options.fetch(request.url, {
      method: "POST",
      headers: {
        ...request.headers,
        "content-type": "application/json",
        "user-agent": options.userAgent,
      },
      body: request.body,
      // A redirect would resend the body elsewhere; receivers answer webhooks directly.
      redirect: "manual",
      signal: AbortSignal.any([options.signal, timeout]),
    });
  } catch (error) {
    options.signal.throwIfAborted();
    if (timeout.aborted)
      return { delivered: false, status: 0, reason: `timed out after ${options.timeoutMs} ms`, retry: true };
    return { delivered: false, status: 0, reason: describeNetworkError(error), retry: true };
  }
  // The body is read and dropped: it is not shown (it may echo the URL) but frees the connection.
  await response.arrayBuffer().catch(() => undefined);
  const status = response.status;
  const reason = `HTTP ${status}`;
  if (status >= 200 && status < 300) return { delivered: true, status, reason, retry: false };
  const retry = status === 429 || status >= 500;
  const retryAfterMs = retry ? parseRetryAfter(response.headers.get("retry-after")) : undefined;
  return { delivered: false, status, reason, retry, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
}

/** The error code only: fetch's messages can name the URL. */
function describeNetworkError(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && code !== "") return `network error ${code}`;
    current = current.cause;
  }
  return "network error";
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1_000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
