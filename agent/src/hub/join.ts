// `flotilla-agent join`: trade a bootstrap token for a cluster identity, the way `kubeadm join
// --discovery-token-ca-cert-hash` does it. The hub's CA is fetched unverified, pinned by the hash
// of its public key, and only then trusted to carry the token.
//
// Contract with the hub: `GET ${hubUrl}/ca.crt` over HTTPS answers 200 with the PEM of the CA
// certificate that signed the hub's serving certificates (further certificates after the first
// are ignored). AgentService listens at `grpcAddress`, by default the host and port of hubUrl.
import { createHash, X509Certificate } from "node:crypto";
import { get } from "node:https";
import { AgentService } from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import { closeClient, createClient, credentials, GrpcError } from "@flotilla/proto/grpc";
import type { HubIdentity, StateStore } from "../desired/state-store.js";
import type { KubeClient } from "../kube/kube-client.js";
import { hubGrpcAddress } from "./hub-connection.js";

/** A CA certificate larger than this is not a CA certificate. */
const MAX_CA_RESPONSE_BYTES = 64 * 1024;

export type JoinOptions = {
  /** https:// URL from the join command. */
  hubUrl: string;
  /** Bootstrap token; sent only to a hub whose CA matches caHash, never logged. */
  token: string;
  /** `sha256:<64 hex>` from the join command. */
  caHash: string;
  clusterName: string;
  labels?: Record<string, string>;
  /** Reads the kube-system namespace's uid; `serverVersion`, when offered, gives the Kubernetes version. */
  kube: Pick<KubeClient, "get" | "server"> & { serverVersion?(): Promise<string> };
  store: StateStore;
  agentVersion?: string;
  /** `host:port` of AgentService when it is not served at the host and port of hubUrl. */
  grpcAddress?: string;
  /** For the CA download and the Register call each; default 30 000. */
  timeoutMs?: number;
};

export type JoinResult = {
  clusterName: string;
  clusterId: string;
  labels: Record<string, string>;
  hubVersion: string;
};

/**
 * Registers this cluster with the hub and persists the identity (credential and CA included) in
 * `store`. Throws, without having sent the token, when the hub's CA does not match `caHash`;
 * throws a message saying what to do when the hub refuses the token or the name. A join to
 * another hub (URL or CA) forgets the seqs of the apps held, which belong to the old hub.
 */
export async function joinHub(options: JoinOptions): Promise<JoinResult> {
  const { hubUrl, store } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const url = parseHubUrl(hubUrl);
  const expectedHash = options.caHash.trim().toLowerCase();
  if (!/^sha256:[0-9a-f]{64}$/.test(expectedHash)) {
    throw new Error(`--ca-hash ${JSON.stringify(options.caHash)} is not sha256:<64 hex digits>`);
  }

  const caCertPem = await fetchCaCertificate(url, timeoutMs);
  const actualHash = caHashOf(caCertPem);
  if (actualHash !== expectedHash) {
    throw new Error(
      `hub ${hubUrl}: its CA certificate has hash ${actualHash}, not the expected ${expectedHash}; ` +
        "the token was not sent. Check the --hub URL and --ca-hash, or ask for a new join command",
    );
  }

  const clusterUid = await readClusterUid(options.kube);
  const kubeVersion = options.kube.serverVersion ? await options.kube.serverVersion() : "";
  const grpcAddress = hubGrpcAddress({ hubUrl, grpcAddress: options.grpcAddress });
  const client = createClient(AgentService, grpcAddress, credentials.createSsl(Buffer.from(caCertPem)));
  let response: Awaited<ReturnType<typeof client.register>>;
  try {
    response = await client.register(
      {
        bootstrapToken: options.token,
        clusterName: options.clusterName,
        labels: options.labels ?? {},
        agentVersion: options.agentVersion ?? "",
        kubeVersion,
        serverUrl: options.kube.server,
        clusterUid,
      },
      { deadlineMs: timeoutMs },
    );
  } catch (error) {
    throw registerError(error, hubUrl, options.clusterName);
  } finally {
    closeClient(client);
  }

  const state = await store.load();
  const previous = state.identity;
  const sameHub = previous?.hubUrl === hubUrl && previous.caHash === expectedHash;
  const identity: HubIdentity = {
    clusterName: response.clusterName || options.clusterName,
    hubUrl,
    credential: response.credential,
    caHash: expectedHash,
    caCertPem,
    ...(options.grpcAddress ? { grpcAddress: options.grpcAddress } : {}),
    ...(sameHub && previous.lastAppliedSeq !== undefined ? { lastAppliedSeq: previous.lastAppliedSeq } : {}),
  };
  state.identity = identity;
  if (!sameHub) {
    for (const record of Object.values(state.apps)) {
      delete record.seq;
      delete record.bundleDigest;
    }
  }
  await store.save(state);
  return {
    clusterName: identity.clusterName,
    clusterId: response.clusterId,
    labels: { ...response.labels },
    hubVersion: response.hubVersion,
  };
}

/** kubeadm's CA cert hash: `sha256:` and the hex sha256 of the certificate's DER SubjectPublicKeyInfo. */
export function caHashOf(caCertPem: string): string {
  const spki = new X509Certificate(caCertPem).publicKey.export({ type: "spki", format: "der" });
  return `sha256:${createHash("sha256").update(spki).digest("hex")}`;
}

function parseHubUrl(hubUrl: string): URL {
  if (!URL.canParse(hubUrl)) throw new Error(`--hub ${JSON.stringify(hubUrl)} is not a URL`);
  const url = new URL(hubUrl);
  if (url.protocol !== "https:") throw new Error(`--hub ${JSON.stringify(hubUrl)} must be an https:// URL`);
  return url;
}

/**
 * The first certificate `${hubUrl}/ca.crt` serves, without verifying the server: nothing is
 * trusted yet, the caller pins it by hash.
 */
function fetchCaCertificate(hubUrl: URL, timeoutMs: number): Promise<string> {
  const caUrl = new URL(`${hubUrl.pathname.replace(/\/$/, "")}/ca.crt`, hubUrl);
  const where = `hub ${hubUrl.origin}: GET ${caUrl.pathname}`;
  return new Promise((resolve, reject) => {
    const request = get(caUrl, { rejectUnauthorized: false, timeout: timeoutMs }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`${where}: HTTP ${response.statusCode}; is ${hubUrl.origin} a Flotilla hub?`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_CA_RESPONSE_BYTES) {
          request.destroy(new Error(`${where}: the answer exceeds ${MAX_CA_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on("error", reject);
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
        try {
          if (pem === undefined) throw new Error("no PEM certificate in the answer");
          new X509Certificate(pem);
          resolve(`${pem}\n`);
        } catch (cause) {
          reject(new Error(`${where}: not a CA certificate: ${messageOf(cause)}`, { cause }));
        }
      });
    });
    request.on("timeout", () => request.destroy(new Error(`${where}: no answer within ${timeoutMs} ms`)));
    request.on("error", (cause) =>
      reject(cause.message.startsWith(where) ? cause : new Error(`${where}: ${cause.message}`, { cause })),
    );
  });
}

async function readClusterUid(kube: JoinOptions["kube"]): Promise<string> {
  const where = `Namespace/kube-system on ${kube.server}`;
  let namespace: Awaited<ReturnType<typeof kube.get>>;
  try {
    namespace = await kube.get("v1", { group: "", kind: "Namespace", namespace: "", name: "kube-system" });
  } catch (cause) {
    throw new Error(`${where}: cannot read the cluster's identity: ${messageOf(cause)}`, { cause });
  }
  const uid = namespace?.metadata.uid;
  if (!uid) throw new Error(`${where}: not found, so the cluster has no stable identity to register with`);
  return uid;
}

function registerError(error: unknown, hubUrl: string, clusterName: string): Error {
  if (!(error instanceof GrpcError))
    return new Error(`hub ${hubUrl}: Register failed: ${messageOf(error)}`, { cause: error });
  switch (error.code) {
    case "UNAUTHENTICATED":
      return new Error(
        `hub ${hubUrl} refused the bootstrap token (${error.details}): it is unknown, expired, revoked or used up; ` +
          "create a new one with `flotilla cluster token create`",
        { cause: error },
      );
    case "ALREADY_EXISTS":
      return new Error(
        `hub ${hubUrl}: the name ${JSON.stringify(clusterName)} belongs to another cluster (${error.details}); ` +
          "join with another --name",
        { cause: error },
      );
    default:
      return new Error(`hub ${hubUrl}: Register failed: ${error.code}: ${error.details}`, { cause: error });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
