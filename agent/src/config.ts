import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The environment, read in one place. Everything else gets configuration passed in. */
export function readProcessEnv(): Readonly<Record<string, string | undefined>> {
  return process.env;
}

const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** Where an agent keeps its state outside a cluster: `$XDG_STATE_HOME/flotilla-agent`, else `~/.local/state/flotilla-agent`. */
export function defaultStateDir(env: Readonly<Record<string, string | undefined>>): string {
  return join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "flotilla-agent");
}

/**
 * The namespace an in-cluster agent runs in: `POD_NAMESPACE` (set through the downward API by
 * the charts), else the service account's namespace file. Throws when neither is there.
 */
export function inClusterNamespace(env: Readonly<Record<string, string | undefined>>): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    return readFileSync(serviceAccountNamespaceFile, "utf8").trim();
  } catch (cause) {
    throw new Error(
      `--in-cluster: cannot tell the agent's namespace: POD_NAMESPACE is unset and ${serviceAccountNamespaceFile} is unreadable`,
      { cause },
    );
  }
}
