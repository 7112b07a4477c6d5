import { mkdir } from "node:fs/promises";
import { join } from "node:path";

/** A dead local port: proxied requests fail at once instead of reaching the network. */
const DEAD_PROXY = "http://127.0.0.1:9";

/**
 * The complete environment for kustomize and helm: nothing is inherited from the hub (no
 * credentials, no PATH, so kustomize finds no `git` and cannot clone remote bases), every home
 * and cache directory is inside the throw-away `scratchDir`, and HTTP goes to a dead proxy.
 * Creates the directories it names.
 */
export async function createToolEnv(
  scratchDir: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const home = join(scratchDir, "home");
  const tmp = join(scratchDir, "tmp");
  await mkdir(home, { recursive: true });
  await mkdir(tmp, { recursive: true });
  return {
    HOME: home,
    TMPDIR: tmp,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_CACHE_HOME: join(home, ".cache"),
    XDG_DATA_HOME: join(home, ".local", "share"),
    HELM_CONFIG_HOME: join(home, ".config", "helm"),
    HELM_CACHE_HOME: join(home, ".cache", "helm"),
    HELM_DATA_HOME: join(home, ".local", "share", "helm"),
    KUBECONFIG: join(home, ".kube", "config"),
    HTTP_PROXY: DEAD_PROXY,
    HTTPS_PROXY: DEAD_PROXY,
    http_proxy: DEAD_PROXY,
    https_proxy: DEAD_PROXY,
    // No protocol is allowed, not even file://, which would let a base clone a repository
    // from the hub's own disk.
    GIT_ALLOW_PROTOCOL: "none",
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    ...extra,
  };
}
