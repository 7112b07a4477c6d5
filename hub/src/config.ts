import { homedir } from "node:os";
import { join } from "node:path";

/** The environment, read in one place. Everything else gets configuration passed in. */
export function readProcessEnv(): Readonly<Record<string, string | undefined>> {
  return process.env;
}

/** Where the hub's renderers find their tools and cache. */
export type RenderConfig = {
  /** `FLOTILLA_KUSTOMIZE`, else `kustomize` on PATH. */
  kustomizePath: string;
  /** `FLOTILLA_HELM`, else `helm` on PATH. */
  helmPath: string;
  /** `FLOTILLA_RENDER_TIMEOUT_MS`, default 60 s per tool run. */
  renderTimeoutMs: number;
  /** `FLOTILLA_CACHE_DIR`, else `$XDG_CACHE_HOME/flotilla`, else `~/.cache/flotilla`. */
  cacheDir: string;
};

export function loadRenderConfig(env: Readonly<Record<string, string | undefined>>): RenderConfig {
  const timeout = Number(env.FLOTILLA_RENDER_TIMEOUT_MS ?? "60000");
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new Error(
      `FLOTILLA_RENDER_TIMEOUT_MS must be a positive number of milliseconds, not "${env.FLOTILLA_RENDER_TIMEOUT_MS}"`,
    );
  }
  return {
    kustomizePath: env.FLOTILLA_KUSTOMIZE || "kustomize",
    helmPath: env.FLOTILLA_HELM || "helm",
    renderTimeoutMs: timeout,
    cacheDir: env.FLOTILLA_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "flotilla"),
  };
}
