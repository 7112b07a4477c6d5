/**
 * Whether a fleet has converged: every cluster Connected, every (cluster, app) target the hub
 * resolved delivered and reported Synced and Healthy, nothing reported that is not targeted, no
 * source or app problems. Pure, so the rules are tested without clusters.
 */

/** One app in one cluster as the fleet index reports it (FleetStatusRow, with names for the enums). */
export type ReportedApp = {
  cluster: string;
  app: string;
  sync: string;
  health: string;
  message: string;
  /** Commit the agent last synced. */
  revision: string;
  /** The agent acknowledged the desired state the hub holds for it. */
  delivered: boolean;
};

export type ConvergenceInput = {
  /** Clusters that must be part of the fleet (joined and Connected). */
  clusters: readonly string[];
  /** Registered clusters and their connection state (Connected, Disconnected, Pending). */
  states: ReadonlyMap<string, string>;
  /** Each source's latest resolve: the commit it fetched ("" before the first) and its error. */
  sources: readonly { id: string; revision: string; error: string }[];
  /** The hub's resolved apps: which clusters each targets, and its resolve problems. */
  apps: readonly {
    name: string;
    parent: string;
    clusters: readonly string[];
    problems: readonly { cluster: string; reason: string; message: string }[];
  }[];
  rows: readonly ReportedApp[];
  /** Targets that must also report this commit: those whose app `matches`. */
  revision?: { matches: (app: { name: string; parent: string }) => boolean; revision: string };
};

export type Convergence = {
  converged: boolean;
  /** Targets that are delivered, Synced and Healthy (and at the required revision). */
  ready: number;
  /** Every (cluster, app) target the hub resolved. */
  total: number;
  /** What is not there yet, one entry per cluster, app or source: "prod-1 web-prod-1: OutOfSync Progressing: ...". */
  waiting: string[];
};

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function assessConvergence(input: ConvergenceInput): Convergence {
  const waiting: string[] = [];
  for (const source of input.sources) {
    if (source.error) waiting.push(`source ${source.id}: ${source.error}`);
    else if (!source.revision) waiting.push(`source ${source.id}: not fetched yet`);
  }
  if (input.sources.length === 0) waiting.push("no source configured");

  const expected = new Map<string, { name: string; parent: string }>();
  for (const app of input.apps) {
    for (const problem of app.problems) {
      const where = problem.cluster ? `${problem.cluster} ${app.name}` : app.name;
      waiting.push(`${where}: ${problem.reason}: ${problem.message}`);
    }
    for (const cluster of app.clusters)
      expected.set(`${cluster}\u0000${app.name}`, { name: app.name, parent: app.parent });
  }

  for (const cluster of input.clusters) {
    const state = input.states.get(cluster);
    if (state === undefined) waiting.push(`${cluster}: not joined yet`);
    else if (state !== "Connected") waiting.push(`${cluster}: ${state}`);
    // A resolve that ran before the cluster joined leaves it without apps: not done yet.
    else if (![...expected.keys()].some((key) => key.startsWith(`${cluster}\u0000`)))
      waiting.push(`${cluster}: no apps resolved for it yet`);
  }

  const reported = new Map(input.rows.map((row) => [`${row.cluster}\u0000${row.app}`, row]));
  let ready = 0;
  const targetLines: string[] = [];
  for (const [key, target] of expected) {
    const [cluster = ""] = key.split("\u0000");
    const row = reported.get(key);
    const name = `${cluster} ${target.name}`;
    if (!row) {
      targetLines.push(`${name}: not reported yet`);
      continue;
    }
    if (!row.delivered) {
      targetLines.push(`${name}: not delivered yet`);
      continue;
    }
    if (row.sync !== "Synced" || row.health !== "Healthy") {
      targetLines.push(`${name}: ${row.sync} ${row.health}${row.message ? `: ${row.message}` : ""}`);
      continue;
    }
    const wanted = input.revision?.matches(target) ? input.revision.revision : undefined;
    if (wanted && row.revision !== wanted) {
      targetLines.push(`${name}: at ${short(row.revision)}, not yet at ${short(wanted)}`);
      continue;
    }
    ready += 1;
  }
  for (const [key, row] of reported) {
    if (!expected.has(key) && input.clusters.includes(row.cluster))
      targetLines.push(`${row.cluster} ${row.app}: reported, but no longer targeted`);
  }
  waiting.push(...targetLines.sort(byText));
  return { converged: waiting.length === 0 && expected.size > 0, ready, total: expected.size, waiting };
}

/** `7/9 apps Synced+Healthy (prod-1 web-prod-1 OutOfSync Progressing: ..., +2 more)` */
export function summarizeConvergence(convergence: Convergence): string {
  const head = `${convergence.ready}/${convergence.total} apps Synced+Healthy`;
  const [first, ...rest] = convergence.waiting;
  if (first === undefined) return head;
  const more = rest.length > 0 ? `, +${rest.length} more` : "";
  return `${head} (${oneLine(first, 160)}${more})`;
}

function short(revision: string): string {
  return revision ? revision.slice(0, 7) : "nothing";
}

function oneLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
