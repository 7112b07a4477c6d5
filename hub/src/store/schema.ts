/**
 * The hub's durable schema, one definition for PGlite and PostgreSQL. The migrations in
 * `hub/drizzle/` are generated from it by drizzle-kit (`cd hub && npx drizzle-kit generate`);
 * never edit them by hand, and commit the SQL with meta/. open-store.test.ts fails when the
 * schema has changes no migration covers. Secrets are stored as SHA-256 hex, except webhook
 * secrets, which signature checks need verbatim.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
  // node-postgres returns a Buffer (a Uint8Array); PGlite returns a Uint8Array.
  fromDriver: (value) => value,
});

const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });
const labelMap = (name: string) => jsonb(name).$type<Record<string, string>>().notNull().default({});
const seq = (name: string) => bigint(name, { mode: "number" }).notNull().default(0);

export const clusters = pgTable(
  "clusters",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull().unique(),
    /** The uid of the cluster's kube-system namespace: the same cluster re-joining keeps its row. */
    clusterUid: text("cluster_uid").notNull().unique(),
    serverUrl: text("server_url").notNull().default(""),
    labels: labelMap("labels"),
    annotations: labelMap("annotations"),
    kubeVersion: text("kube_version").notNull().default(""),
    agentVersion: text("agent_version").notNull().default(""),
    state: text("state").$type<"Pending" | "Connected" | "Disconnected">().notNull().default("Pending"),
    createdAt: at("created_at").notNull(),
    lastSeenAt: at("last_seen_at"),
    /** The last seq assigned to a change of this cluster's targets. */
    desiredSeq: seq("desired_seq"),
    /** The highest seq its agent acknowledged. */
    ackedSeq: seq("acked_seq"),
  },
  (t) => [check("clusters_state_check", sql`${t.state} in ('Pending', 'Connected', 'Disconnected')`)],
);

export const bootstrapTokens = pgTable(
  "bootstrap_tokens",
  {
    /** The public `<id>` part of `<id>.<secret>`. */
    id: text("id").primaryKey(),
    secretHash: text("secret_hash").notNull(),
    /** Applied to every cluster that joins with the token. */
    labels: labelMap("labels"),
    /** Null: never expires. */
    expiresAt: at("expires_at"),
    /** Null: unlimited. */
    maxUses: integer("max_uses"),
    uses: integer("uses").notNull().default(0),
    revokedAt: at("revoked_at"),
    createdAt: at("created_at").notNull(),
    createdBy: text("created_by").notNull().default(""),
  },
  (t) => [check("bootstrap_tokens_uses_check", sql`${t.maxUses} is null or ${t.uses} <= ${t.maxUses}`)],
);

export const clusterCredentials = pgTable(
  "cluster_credentials",
  {
    id: text("id").primaryKey(),
    clusterId: text("cluster_id")
      .notNull()
      .references(() => clusters.id, { onDelete: "cascade" }),
    secretHash: text("secret_hash").notNull(),
    createdAt: at("created_at").notNull(),
    /** Set on the older credentials when a new one is issued: they keep working until then. */
    expiresAt: at("expires_at"),
    revokedAt: at("revoked_at"),
  },
  (t) => [index("cluster_credentials_cluster_idx").on(t.clusterId)],
);

export const apiTokens = pgTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    secretHash: text("secret_hash").notNull(),
    role: text("role").$type<"admin" | "viewer">().notNull(),
    /** A label selector limiting which clusters a viewer sees; null: all. */
    clusterSelector: text("cluster_selector"),
    createdAt: at("created_at").notNull(),
    revokedAt: at("revoked_at"),
  },
  (t) => [check("api_tokens_role_check", sql`${t.role} in ('admin', 'viewer')`)],
);

export const sources = pgTable(
  "sources",
  {
    id: text("id").primaryKey(),
    repoUrl: text("repo_url").notNull(),
    path: text("path").notNull().default(""),
    targetRevision: text("target_revision").notNull().default("HEAD"),
    pollIntervalMs: integer("poll_interval_ms").notNull(),
    /** Kept verbatim because HMAC signature checks need it; listings never return it. */
    webhookSecret: text("webhook_secret"),
    createdAt: at("created_at").notNull(),
  },
  (t) => [uniqueIndex("sources_location_idx").on(t.repoUrl, t.path, t.targetRevision)],
);

/** What the latest resolve of each source found, so every replica can answer about apps and problems. */
export const sourceResolutions = pgTable("source_resolutions", {
  sourceId: text("source_id")
    .primaryKey()
    .references(() => sources.id, { onDelete: "cascade" }),
  revision: text("revision").notNull().default(""),
  fetchedAt: at("fetched_at"),
  error: text("error").notNull().default(""),
  /** The apps of the resolve with their clusters and problems (AppSummary[] of server/hub-runtime.ts). */
  apps: jsonb("apps").$type<unknown[]>().notNull().default([]),
  updatedAt: at("updated_at").notNull(),
});

export const bundles = pgTable("bundles", {
  digest: text("digest").primaryKey(),
  encoding: text("encoding").notNull(),
  bytes: bytea("bytes").notNull(),
  objectCount: integer("object_count").notNull(),
  createdAt: at("created_at").notNull(),
});

export const targets = pgTable(
  "targets",
  {
    clusterId: text("cluster_id")
      .notNull()
      .references(() => clusters.id, { onDelete: "cascade" }),
    app: text("app").notNull(),
    digest: text("digest").notNull(),
    bundleDigest: text("bundle_digest").notNull(),
    /** The DesiredApp fields other than the bundle (namespace, project, revision, ...). */
    desired: jsonb("desired").$type<Record<string, unknown>>().notNull(),
    /** The cluster's seq of this row's last change (upsert or removal). */
    seq: bigint("seq", { mode: "number" }).notNull(),
    /** The highest seq of this app its agent acknowledged; the row is unacknowledged while lower. */
    ackedSeq: seq("acked_seq"),
    /** A removal not yet acknowledged; the row is deleted when it is. */
    removed: boolean("removed").notNull().default(false),
    updatedAt: at("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.clusterId, t.app] }),
    index("targets_cluster_seq_idx").on(t.clusterId, t.seq),
  ],
);

export const appStatuses = pgTable(
  "app_statuses",
  {
    clusterId: text("cluster_id")
      .notNull()
      .references(() => clusters.id, { onDelete: "cascade" }),
    app: text("app").notNull(),
    digest: text("digest").notNull().default(""),
    revision: text("revision").notNull().default(""),
    sync: text("sync").notNull(),
    health: text("health").notNull(),
    healthMessage: text("health_message").notNull().default(""),
    operation: jsonb("operation").$type<Record<string, unknown>>(),
    resources: jsonb("resources").$type<unknown[]>().notNull().default([]),
    conditions: jsonb("conditions").$type<unknown[]>().notNull().default([]),
    observedAt: at("observed_at").notNull(),
    /** The cluster stopped talking after this report. */
    stale: boolean("stale").notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.clusterId, t.app] })],
);

export const events = pgTable(
  "events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    at: at("at").notNull(),
    // No foreign key: the audit trail outlives the clusters it mentions.
    clusterId: text("cluster_id"),
    app: text("app"),
    type: text("type").notNull(),
    message: text("message").notNull().default(""),
    data: jsonb("data").$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    index("events_at_idx").on(t.at),
    index("events_cluster_at_idx").on(t.clusterId, t.at),
    index("events_app_at_idx").on(t.app, t.at),
  ],
);

export const syncRequests = pgTable(
  "sync_requests",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    clusterId: text("cluster_id")
      .notNull()
      .references(() => clusters.id, { onDelete: "cascade" }),
    app: text("app").notNull(),
    requestId: text("request_id").notNull().unique(),
    prune: boolean("prune").notNull().default(false),
    dryRun: boolean("dry_run").notNull().default(false),
    force: boolean("force").notNull().default(false),
    requestedBy: text("requested_by").notNull().default(""),
    createdAt: at("created_at").notNull(),
    ackedAt: at("acked_at"),
  },
  (t) => [index("sync_requests_pending_idx").on(t.clusterId, t.id).where(sql`${t.ackedAt} is null`)],
);

export const leases = pgTable("leases", {
  name: text("name").primaryKey(),
  holder: text("holder").notNull(),
  expiresAt: at("expires_at").notNull(),
});

/**
 * Progressive rollouts (hub/src/rollout): the controller's state per rollout, written by the
 * replica that resolves, so a restart or a failover resumes a rollout where it was.
 */
export const rollouts = pgTable("rollouts", {
  name: text("name").primaryKey(),
  /** RolloutState of hub/src/rollout/rollout-state.ts. */
  state: jsonb("state").$type<Record<string, unknown>>().notNull(),
  updatedAt: at("updated_at").notNull(),
});

/** Commands (pause, resume, abort, promote) from the API, taken by the resolving replica in order. */
export const rolloutCommands = pgTable("rollout_commands", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  rollout: text("rollout").notNull(),
  action: text("action").notNull(),
  all: boolean("all").notNull().default(false),
  actor: text("actor").notNull().default(""),
  createdAt: at("created_at").notNull(),
});
