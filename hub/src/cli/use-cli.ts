import { join } from "node:path";
import { before } from "node:test";
import { FIXTURE_REPOS_DIR, useTempDirs } from "../resolve/fixture-repo.js";
import type { CliIo } from "./command.js";
import { commands } from "./commands.js";
import { runCli } from "./run-cli.js";

export const EXAMPLES_URL = "https://github.com/argoproj/argocd-example-apps";
export const CLUSTERS_FILE = join(FIXTURE_REPOS_DIR, "argocd-example-apps", "clusters.yaml");

export type CliRun = { code: number; out: string; err: string };

/** Runs `flotilla <args>` in-process with captured output, real tools and a cache of its own. */
export function useCli(): (...args: string[]) => Promise<CliRun> {
  const tempDir = useTempDirs("flotilla-cli");
  let cacheDir = "";
  before(async () => {
    cacheDir = await tempDir();
  });
  return async (...args) => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = {
      stdout: (text) => out.push(text),
      stderr: (text) => err.push(text),
      env: {
        FLOTILLA_KUSTOMIZE: process.env.FLOTILLA_KUSTOMIZE,
        FLOTILLA_HELM: process.env.FLOTILLA_HELM,
        FLOTILLA_CACHE_DIR: cacheDir,
      },
      isTty: false,
    };
    const code = await runCli("flotilla", commands, args, io);
    return { code, out: out.join(""), err: err.join("") };
  };
}
