import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { HubIdentity } from "../desired/state-store.js";
import { joinHub } from "../hub/join.js";
import { agentVersion } from "./agent-version.js";
import { type Agent, type AgentPlatform, createAgent, kubePlatform } from "./create-agent.js";
import {
  type AgentFlags,
  type AgentIo,
  agentFlagOptions,
  agentFlagsHelp,
  agentFlagsUsage,
  readAgentFlags,
  UsageError,
} from "./read-agent-flags.js";
import { runConnected } from "./run-connected.js";

export const joinUsage =
  "flotilla-agent join --hub <url> (--token <token> | --token-file <file>) --ca-hash sha256:<hex> [--name <cluster>]\n" +
  "    [--label key=value]... [--grpc-address host:port]\n    " +
  agentFlagsUsage +
  "\n\n" +
  "The token may also come from FLOTILLA_JOIN_TOKEN, the name from FLOTILLA_CLUSTER_NAME (default: the\n" +
  "kubeconfig context's cluster; required with --in-cluster). An agent already joined to that hub under\n" +
  "that name does not register again and needs no token.\n" +
  agentFlagsHelp;

type JoinFlags = AgentFlags & {
  hubUrl: string;
  caHash: string;
  /** Undefined when none was given: only needed when the agent is not joined yet. */
  token?: string;
  name?: string;
  labels: Record<string, string>;
  grpcAddress?: string;
};

async function parseJoinFlags(argv: string[], env: AgentIo["env"]): Promise<JoinFlags> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...agentFlagOptions,
      hub: { type: "string" },
      token: { type: "string" },
      "token-file": { type: "string" },
      "ca-hash": { type: "string" },
      name: { type: "string" },
      label: { type: "string", multiple: true, default: [] },
      "grpc-address": { type: "string" },
    },
  });
  const flags = readAgentFlags(values, positionals, env);
  const hubUrl = checkHubUrl(values.hub);
  const caHash = values["ca-hash"]?.trim().toLowerCase() ?? "";
  if (!/^sha256:[0-9a-f]{64}$/.test(caHash)) {
    throw new UsageError(
      values["ca-hash"] === undefined
        ? "--ca-hash sha256:<hex> is required (it is part of the join command the hub printed)"
        : `--ca-hash ${JSON.stringify(values["ca-hash"])} is not sha256:<64 hex digits>`,
    );
  }
  const name = values.name || env.FLOTILLA_CLUSTER_NAME || undefined;
  if (flags.inCluster && name === undefined) {
    throw new UsageError(
      "--in-cluster needs the cluster's name: give --name <cluster> or set FLOTILLA_CLUSTER_NAME",
    );
  }
  const grpcAddress = values["grpc-address"];
  if (grpcAddress !== undefined && !/^[^\s:/]+:\d+$|^\[[0-9a-fA-F:.]+\]:\d+$/.test(grpcAddress)) {
    throw new UsageError(`--grpc-address ${JSON.stringify(grpcAddress)} is not host:port`);
  }
  return {
    ...flags,
    hubUrl,
    caHash,
    token: await readToken(values.token, values["token-file"], env),
    name,
    labels: parseLabels(values.label),
    grpcAddress,
  };
}

function checkHubUrl(hub: string | undefined): string {
  if (hub === undefined) throw new UsageError("--hub <url> is required");
  if (!URL.canParse(hub)) throw new UsageError(`--hub ${JSON.stringify(hub)} is not a URL`);
  const url = new URL(hub);
  if (url.protocol !== "https:") throw new UsageError(`--hub ${JSON.stringify(hub)} must be an https:// URL`);
  // Never quote it: the credentials are what must not be printed.
  if (url.username || url.password) throw new UsageError("--hub must not carry credentials (user:password@)");
  return hub;
}

/** The bootstrap token from --token, --token-file or FLOTILLA_JOIN_TOKEN; never part of a message. */
async function readToken(
  flag: string | undefined,
  file: string | undefined,
  env: AgentIo["env"],
): Promise<string | undefined> {
  if (flag !== undefined && file !== undefined)
    throw new UsageError("give at most one of --token or --token-file");
  if (flag !== undefined) {
    if (flag.trim() === "") throw new UsageError("--token is empty");
    return flag.trim();
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (cause) {
      const code = (cause as { code?: string }).code ?? "unreadable";
      throw new Error(`--token-file ${file}: cannot read (${code})`, { cause });
    }
    if (text.trim() === "") throw new Error(`--token-file ${file}: empty`);
    return text.trim();
  }
  return env.FLOTILLA_JOIN_TOKEN?.trim() || undefined;
}

function parseLabels(pairs: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf("=");
    if (equals <= 0) throw new UsageError(`--label ${JSON.stringify(pair)} is not key=value`);
    const key = pair.slice(0, equals);
    if (key in labels) throw new UsageError(`--label ${key} is given twice`);
    labels[key] = pair.slice(equals + 1);
  }
  return labels;
}

/**
 * `flotilla-agent join`: registers this cluster with the hub (unless the state store already
 * holds an identity for the same hub URL, CA hash and cluster name), then runs connected to it
 * exactly as `run` does for a joined agent. Returns the exit code; throws UsageError for a wrong
 * command line and an Error saying what to do when the hub refuses the token or the credential.
 */
export async function runJoinCommand(
  argv: string[],
  io: AgentIo,
  platform: AgentPlatform = kubePlatform,
): Promise<number> {
  const flags = await parseJoinFlags(argv, io.env);
  const agent = await createAgent(flags, io, platform);
  const identity = await ensureJoined(agent, flags, io);
  return runConnected(agent, identity, flags, io);
}

/** The stored identity when it is for this hub, CA and name; else the one a new Register gives. */
async function ensureJoined(agent: Agent, flags: JoinFlags, io: AgentIo): Promise<HubIdentity> {
  const clusterName = flags.name ?? agent.kubeClusterName;
  if (!clusterName) {
    throw new UsageError("the kubeconfig's context names no cluster: give --name <cluster>");
  }
  const state = await agent.stateStore.load();
  const held = state.identity;
  if (held?.hubUrl === flags.hubUrl && held.caHash === flags.caHash && held.clusterName === clusterName) {
    io.stderr(`already joined hub ${flags.hubUrl} as cluster ${clusterName}; not registering again\n`);
    if (flags.grpcAddress === undefined || flags.grpcAddress === held.grpcAddress) return held;
    state.identity = { ...held, grpcAddress: flags.grpcAddress };
    await agent.stateStore.save(state);
    return state.identity;
  }
  if (flags.token === undefined) {
    throw new UsageError(
      `${agent.stateStore.location} holds no identity for hub ${flags.hubUrl} as cluster ${clusterName}: ` +
        "give the bootstrap token with --token, --token-file or FLOTILLA_JOIN_TOKEN",
    );
  }
  const joined = await joinHub({
    hubUrl: flags.hubUrl,
    token: flags.token,
    caHash: flags.caHash,
    clusterName,
    labels: flags.labels,
    kube: agent.kube,
    store: agent.stateStore,
    agentVersion,
    grpcAddress: flags.grpcAddress,
  });
  io.stderr(`joined hub ${flags.hubUrl} as cluster ${joined.clusterName} (id ${joined.clusterId})\n`);
  const identity = (await agent.stateStore.load()).identity;
  if (identity === undefined)
    throw new Error(`${agent.stateStore.location}: the identity just joined is missing`);
  return identity;
}
