import { KubeError, type KubeErrorReason } from "./kube-client.js";

/** The parts of a metav1.Status that decide a KubeError. */
export type ApiStatus = { message?: string; reason?: string; code?: number };

/** HTTP status → reason; 409 AlreadyExists, 5xx and anything missing are decided in `reasonOf`. */
const reasonByStatusCode: Readonly<Record<number, KubeErrorReason>> = {
  400: "Invalid",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  410: "Gone",
  422: "Invalid",
  429: "Unavailable",
};

/**
 * The KubeError for a non-2xx answer: `${subject}: ${status.message}`, the reason from the HTTP
 * status (and the Status reason for 409 AlreadyExists). A body that is not a Status falls back to
 * `HTTP <code>`; the body itself is never quoted, so nothing unexpected leaks into logs.
 */
export function mapResponseError(subject: string, statusCode: number, body: string): KubeError {
  return mapStatusError(subject, { ...parseStatus(body), code: statusCode });
}

/** The KubeError for a Status, as a watch ERROR event carries it; `status.code` is the HTTP code. */
export function mapStatusError(subject: string, status: ApiStatus): KubeError {
  const code = status.code ?? 0;
  const detail = status.message || `HTTP ${code}${status.reason ? ` ${status.reason}` : ""}`;
  return new KubeError(`${subject}: ${detail}`, reasonOf(code, status.reason), status.code);
}

/** The KubeError for a request that got no answer: refused, reset, timed out, TLS failure. */
export function mapConnectionError(subject: string, server: string, error: unknown): KubeError {
  const code =
    (error as { code?: unknown } | undefined)?.code ??
    (error instanceof Error ? error.message : String(error));
  return new KubeError(
    `${subject}: API server ${server} unreachable (${String(code)})`,
    "Unavailable",
    undefined,
    {
      cause: error,
    },
  );
}

function reasonOf(statusCode: number, statusReason: string | undefined): KubeErrorReason {
  if (statusCode === 409 && statusReason === "AlreadyExists") return "AlreadyExists";
  if (statusCode >= 500) return "Unavailable";
  return reasonByStatusCode[statusCode] ?? "Unknown";
}

function parseStatus(body: string): ApiStatus {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== "object" || parsed === null) return {};
    const { message, reason } = parsed as Record<string, unknown>;
    return {
      ...(typeof message === "string" && { message }),
      ...(typeof reason === "string" && { reason }),
    };
  } catch {
    return {};
  }
}
