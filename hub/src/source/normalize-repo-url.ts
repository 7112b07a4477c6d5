import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

// `user@host:path` (scp-like SSH), but not a Windows drive (`C:\repo`) or a URL with a scheme.
const SCP_LIKE = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.*)$/;

/**
 * Normalizes a repository URL for comparison, as Argo CD does: scheme and host lower-cased,
 * credentials, fragment, trailing "/" and ".git" dropped; scp-like SSH (`git@host:org/repo`)
 * becomes `ssh://host/org/repo`; a local path or `file:` URL becomes `file://<absolute path>`
 * (a relative path is resolved against the working directory). Paths keep their case. A string
 * that is not a URL is returned trimmed, without a trailing "/" or ".git".
 */
export function normalizeRepoUrl(url: string): string {
  const trimmed = url.trim();
  const path = findLocalRepoPath(trimmed);
  if (path !== undefined) return `file://${stripRepoSuffix(path)}`;
  const scp = SCP_LIKE.exec(trimmed);
  if (scp && !trimmed.includes("://")) {
    return `ssh://${(scp[1] ?? "").toLowerCase()}/${stripRepoSuffix(scp[2] ?? "").replace(/^\/+/, "")}`;
  }
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    return stripRepoSuffix(trimmed);
  }
  // Non-special schemes (ssh:, git:) keep the host's case in WHATWG URLs; git hosts do not care.
  const host = parsed.host.toLowerCase();
  return `${parsed.protocol.toLowerCase()}//${host}${stripRepoSuffix(parsed.pathname)}${parsed.search}`;
}

/**
 * The absolute filesystem path a local repository URL names (an absolute or `./`, `../`
 * relative path, or a `file:` URL), or undefined for anything else.
 */
export function findLocalRepoPath(url: string): string | undefined {
  const trimmed = url.trim();
  if (/^file:/i.test(trimmed)) {
    try {
      return resolve(fileURLToPath(trimmed));
    } catch {
      return undefined;
    }
  }
  if (trimmed === "." || trimmed === ".." || /^(\/|\.\.?\/)/.test(trimmed)) return resolve(trimmed);
  return undefined;
}

/**
 * The URL as given, for messages and logs: user name, password, query and fragment removed
 * (a query may carry a token).
 */
export function redactRepoUrl(url: string): string {
  const trimmed = url.trim();
  try {
    const parsed = new URL(trimmed);
    if (parsed.protocol === "file:") return trimmed.replace(/[?#].*$/, "");
    parsed.username = "";
    parsed.password = "";
    parsed.search = "";
    parsed.hash = "";
    return parsed.href;
  } catch {
    return trimmed.replace(/\/\/[^/?#]*@/, "//").replace(/[?#].*$/, "");
  }
}

function stripRepoSuffix(path: string): string {
  let stripped = path.replace(/\/+$/, "");
  if (stripped.endsWith(".git")) stripped = stripped.slice(0, -4).replace(/\/+$/, "");
  return stripped;
}
