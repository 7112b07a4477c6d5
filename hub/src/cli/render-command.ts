import { parseArgs } from "node:util";
import { stringify } from "yaml";
import type { KubeObject } from "../render/kube-object.js";
import { type FleetResolution, resolveFleet } from "../resolve/resolve-fleet.js";
import type { Command } from "./command.js";
import { UsageError } from "./command.js";
import {
  FLEET_FLAG_OPTIONS,
  openResolveDeps,
  readFleetFlags,
  resolveRootRevision,
  rootOf,
} from "./fleet-flags.js";

const OUTPUTS = ["json", "yaml", "table"] as const;
type Output = (typeof OUTPUTS)[number];

/** The `render -o json` document (the contract acceptance checks use). */
export type RenderDocument = {
  revision: string;
  clusters: Record<string, { apps: Record<string, RenderedApp> }>;
  problems: { app: string; kind: string; message: string }[];
};

type RenderedApp = {
  namespace: string;
  /** The source that renders (of a multi-source app, the first that is not only a `ref`). */
  source: Record<string, string>;
  /** Multi-source apps only: every source, `ref` ones included (an addition to the contract). */
  sources?: Record<string, string>[];
  digest: string;
  objects: { apiVersion: string; kind: string; namespace: string; name: string; manifest?: KubeObject }[];
};

export function toRenderDocument(
  resolution: FleetResolution,
  clusterNames: string[],
  withManifests: boolean,
): RenderDocument {
  const clusters: RenderDocument["clusters"] = {};
  for (const name of [...clusterNames].sort()) clusters[name] = { apps: {} };
  for (const target of resolution.targets) {
    const rendered = target.sources.filter((s) => !(s.ref && !s.path));
    const source = { ...(rendered[0] ?? target.sources[0]) } as Record<string, string>;
    const app: RenderedApp = {
      namespace: target.namespace,
      source,
      digest: target.digest,
      objects: target.objects.map((obj) => ({
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        namespace: obj.metadata.namespace ?? "",
        name: obj.metadata.name ?? obj.metadata.generateName ?? "",
        ...(withManifests ? { manifest: obj } : {}),
      })),
    };
    if (target.sources.length > 1)
      app.sources = target.sources.map((s) => ({ ...s }) as Record<string, string>);
    clusters[target.cluster] ??= { apps: {} };
    (clusters[target.cluster] as { apps: Record<string, RenderedApp> }).apps[target.app] = app;
  }
  return { revision: resolution.revision, clusters, problems: resolution.problems.map((p) => ({ ...p })) };
}

export function formatRenderTable(document: RenderDocument): string {
  const rows = [["CLUSTER", "APP", "NAMESPACE", "OBJECTS", "DIGEST"]];
  for (const [cluster, { apps }] of Object.entries(document.clusters)) {
    for (const [name, app] of Object.entries(apps)) {
      rows.push([cluster, name, app.namespace, String(app.objects.length), app.digest.slice(7, 19)]);
    }
  }
  const widths = (rows[0] as string[]).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const lines = rows.map((r) =>
    r
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join("  ")
      .trimEnd(),
  );
  const problems = document.problems.map((p) => `  ${p.app}: ${p.kind}: ${p.message}`);
  return `revision ${document.revision}\n${lines.join("\n")}\n${problems.length ? `\nproblems:\n${problems.join("\n")}\n` : ""}`;
}

export function readOutput(value: string | undefined, allowed: readonly string[]): string {
  const output = value ?? allowed[0];
  if (!output || !allowed.includes(output)) throw new UsageError(`-o must be one of ${allowed.join(", ")}`);
  return output;
}

export const renderCommand: Command = {
  path: ["render"],
  summary: "Resolve a fleet repository into per-cluster apps and objects",
  usage:
    "flotilla render --repo <dir|url> --path <root path> --clusters <clusters.yaml> [--revision <rev>] [--repo-map <url>=<dir|url>]... [--manifests] [-o json|yaml|table]",
  run: async (args, io) => {
    const { values } = parseArgs({
      args,
      options: {
        ...FLEET_FLAG_OPTIONS,
        revision: { type: "string" },
        manifests: { type: "boolean", default: false },
      },
      strict: true,
    });
    const output = readOutput(values.output, OUTPUTS) as Output;
    const flags = readFleetFlags(values);
    const deps = openResolveDeps(flags, io.env);
    const revision = await resolveRootRevision(deps, flags, values.revision);
    const resolution = await resolveFleet(rootOf(flags, revision), deps);
    const document = toRenderDocument(
      resolution,
      deps.clusters.map((c) => c.name),
      values.manifests ?? false,
    );
    if (output === "json") io.stdout(`${JSON.stringify(document, null, 2)}\n`);
    else if (output === "yaml") io.stdout(stringify(document));
    else io.stdout(formatRenderTable(document));
    return 0;
  },
};
