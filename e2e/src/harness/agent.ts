import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAgentCommand } from "@flotilla/agent/cli/run-command";
import { createKubeClient } from "@flotilla/agent/kube/create-kube-client";
import type { KubeClient } from "@flotilla/agent/kube/kube-client";
import { loadKubeConfig } from "@flotilla/agent/kube/load-kube-config";
import { stringify } from "yaml";
import type { Cluster } from "./cluster.js";

/** One app of a desired directory: file name → content (objects are written as YAML). */
export type AppFiles = Record<string, string | object | object[]>;

/**
 * Writes apps into `dir` the way `flotilla-agent run --desired-dir` reads them: one subdirectory
 * per app. Apps not named are left as they are; `null` removes an app's directory.
 */
export async function writeDesiredDir(dir: string, apps: Record<string, AppFiles | null>): Promise<void> {
  for (const [app, files] of Object.entries(apps)) {
    const appDir = join(dir, app);
    await rm(appDir, { recursive: true, force: true });
    if (files === null) continue;
    await mkdir(appDir, { recursive: true });
    for (const [file, content] of Object.entries(files)) {
      const text =
        typeof content === "string"
          ? content
          : Array.isArray(content)
            ? content.map((doc) => stringify(doc)).join("---\n")
            : stringify(content);
      await writeFile(join(appDir, file), text);
    }
  }
}

export type AgentRun = { code: number; stdout: string; stderr: string; json: AgentJson };
export type AgentJson = {
  apps: {
    name: string;
    sync: string;
    health: string;
    operation?: { phase: string; message: string };
    conditions?: { type: string; message: string }[];
    resources: {
      kind: string;
      namespace: string;
      name: string;
      result: string;
      sync: string;
      health: string | null;
      message: string;
      hook?: string;
      requiresPruning?: boolean;
    }[];
  }[];
};

/** Runs `flotilla-agent run --once -o json` in this process against `kubeconfigPath`. */
export async function runAgentOnce(kubeconfigPath: string, args: string[]): Promise<AgentRun> {
  let stdout = "";
  let stderr = "";
  const code = await runAgentCommand(["--kubeconfig", kubeconfigPath, "--once", "-o", "json", ...args], {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: process.env,
  });
  let json: AgentJson = { apps: [] };
  try {
    json = JSON.parse(stdout) as AgentJson;
  } catch {
    // Left empty; the assertion on `code` or `json` fails with stdout and stderr in view.
  }
  return { code, stdout, stderr, json };
}

/** The agent's own client, with the cluster admin's credentials. */
export function adminKube(cluster: Cluster): KubeClient {
  return createKubeClient(loadKubeConfig({ kubeconfigPath: cluster.kubeconfigPath }));
}

/** A temporary directory removed when the returned function is called. */
export async function makeTempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs` naming `what`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * A token for ServiceAccount `namespace/name` of `cluster` from the TokenRequest API, asked for
 * as the cluster admin, valid for `expirationSeconds` (default one hour). The ServiceAccount
 * must exist. Never log the token.
 */
export async function requestServiceAccountToken(
  cluster: Cluster,
  serviceAccount: { namespace: string; name: string },
  expirationSeconds = 3600,
): Promise<string> {
  const { namespace, name } = serviceAccount;
  const path = `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`;
  const ca = await readFile(cluster.caCertPath);
  const response = await new Promise<{ status?: { token?: string } }>((resolve, reject) => {
    const req = request(`${cluster.server}${path}`, {
      method: "POST",
      ca,
      headers: { authorization: `Bearer ${cluster.token}`, "content-type": "application/json" },
    });
    req.once("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 201 && res.statusCode !== 200) {
          reject(new Error(`POST ${path}: HTTP ${res.statusCode}: ${text}`));
        } else resolve(JSON.parse(text) as { status?: { token?: string } });
      });
    });
    req.once("error", reject);
    req.end(
      JSON.stringify({
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds },
      }),
    );
  });
  const token = response.status?.token;
  if (!token) throw new Error(`POST ${path}: no token in the response`);
  return token;
}

/** A kubeconfig (YAML text) for `server` with a bearer token; it holds the token, keep it private. */
export function tokenKubeconfig(server: string, caCertPath: string, token: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server, "certificate-authority": caCertPath } }],
    users: [{ name: "u", user: { token } }],
    contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
    "current-context": "ctx",
  });
}

/** A kubeconfig that authenticates as ServiceAccount `namespace/name` of `cluster` (see requestServiceAccountToken). */
export async function serviceAccountKubeconfig(
  cluster: Cluster,
  serviceAccount: { namespace: string; name: string },
  expirationSeconds = 3600,
): Promise<string> {
  const token = await requestServiceAccountToken(cluster, serviceAccount, expirationSeconds);
  return tokenKubeconfig(cluster.server, cluster.caCertPath, token);
}
