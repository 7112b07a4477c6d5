import { createHash, timingSafeEqual } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import {
  and,
  asc,
  desc,
  eq,
  getTableColumns,
  gt,
  gte,
  inArray,
  isNull,
  lt,
  lte,
  type SQL,
  sql,
} from "drizzle-orm";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import {
  apiTokens,
  appStatuses,
  bootstrapTokens,
  bundles,
  clusterCredentials,
  clusters,
  events,
  leases,
  rolloutCommands,
  rollouts,
  sourceResolutions,
  sources,
  syncRequests,
  targets,
} from "./schema.js";
import type {
  ApiToken,
  ApplyTargetsResult,
  AppStatusInput,
  BootstrapToken,
  ConsumeTokenResult,
  EventPage,
  HubEvent,
  RolloutCommand,
  Source,
  Store,
  Target,
  TargetInput,
  TokenRefusal,
} from "./store.js";

export type StoreOptions = (
  | {
      kind: "pglite";
      /** A folder of its own, created if missing; one process at a time may open it. */
      dataDir: string;
    }
  | {
      kind: "postgres";
      /** A postgres:// URL; it holds a password, so it never appears in errors. */
      url: string;
      /** Pool size; default 10. */
      maxConnections?: number;
    }
) & {
  /** The clock for created/seen times and expiry checks; default `new Date()`. Leases use the database's. */
  now?: () => Date;
};

/** The committed SQL migrations, beside src/ and dist/ alike. */
const MIGRATIONS_FOLDER = fileURLToPath(new URL("../../drizzle", import.meta.url));
/** Key of the advisory lock that keeps replicas starting together from migrating at the same time. */
const MIGRATION_LOCK_KEY = 0x666c6f74; // "flot"
const EVENTS_PAGE_DEFAULT = 100;
const EVENTS_PAGE_MAX = 1_000;
/** Rows per INSERT, well below PostgreSQL's 65,535 bind parameters. */
const INSERT_CHUNK_ROWS = 1_000;
/** Cluster ids per `in (...)` list. */
const ID_CHUNK = 5_000;

type Db = PgDatabase<PgQueryResultHKT>;

/**
 * Opens the hub's store and brings its schema up to date by running the migrations in
 * `hub/drizzle/` (each one once; safe to call on every start and from several replicas).
 * PGlite keeps its data in `dataDir`; PostgreSQL is reached through a connection pool.
 * Throws when the database cannot be opened or a migration fails.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const now = options.now ?? (() => new Date());
  if (options.kind === "pglite") {
    const client = await openPglite(options.dataDir);
    const db = drizzlePglite({ client });
    try {
      await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER });
    } catch (cause) {
      await client.close();
      throw new Error(`store ${options.dataDir}: migrate`, { cause });
    }
    // PGlite has one connection and runs one transaction at a time, so transactions serialize.
    return createStore(db as unknown as Db, now, () => client.close());
  }
  const pool = new pg.Pool({ connectionString: options.url, max: Math.max(2, options.maxConnections ?? 10) });
  // An idle connection that breaks (server restart) is dropped by the pool and replaced on the
  // next query; without a listener the 'error' event would end the process.
  pool.on("error", () => {});
  const db = drizzlePg({ client: pool });
  try {
    await migrateLocked(pool, () => migratePg(db, { migrationsFolder: MIGRATIONS_FOLDER }));
  } catch (cause) {
    await pool.end();
    throw new Error("store postgres: migrate", { cause });
  }
  return createStore(db as unknown as Db, now, () => pool.end());
}

async function openPglite(dataDir: string): Promise<PGlite> {
  try {
    await mkdir(dataDir, { recursive: true });
    const client = new PGlite(dataDir);
    await client.waitReady;
    return client;
  } catch (cause) {
    throw new Error(`store ${dataDir}: open PGlite`, { cause });
  }
}

async function migrateLocked(pool: pg.Pool, run: () => Promise<void>): Promise<void> {
  const lock = await pool.connect();
  try {
    await lock.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await run();
    } finally {
      await lock.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } finally {
    lock.release();
  }
}

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function secretMatches(storedHash: string, secret: string): boolean {
  const stored = Buffer.from(storedHash, "hex");
  const given = createHash("sha256").update(secret).digest();
  return stored.length === given.length && timingSafeEqual(stored, given);
}

const { secretHash: _tokenHash, ...tokenColumns } = getTableColumns(bootstrapTokens);
const { secretHash: _credentialHash, ...credentialColumns } = getTableColumns(clusterCredentials);
const { secretHash: _apiHash, ...apiTokenColumns } = getTableColumns(apiTokens);
const { webhookSecret: _webhookSecret, ...sourceColumns } = getTableColumns(sources);
const sourceSelection = {
  ...sourceColumns,
  hasWebhookSecret: sql<boolean>`${sources.webhookSecret} is not null`,
};

function createStore(db: Db, now: () => Date, close: () => Promise<void>): Store {
  /** Locks a cluster row for the transaction; FOR NO KEY UPDATE lets FK checks of other rows pass. */
  const lockCluster = async (tx: Db, id: string) =>
    (await tx.select().from(clusters).where(eq(clusters.id, id)).for("no key update"))[0];

  /**
   * targets.apply for many clusters in one transaction and a handful of statements (a fanout to
   * 1,000 clusters used to be 1,000 transactions): the clusters are locked in id order, their
   * targets read at once, changed rows written in chunks and every desiredSeq in one statement.
   */
  const applyTargets = (
    entries: readonly { clusterId: string; next: readonly TargetInput[] }[],
  ): Promise<Map<string, ApplyTargetsResult>> =>
    db.transaction(async (tx) => {
      const results = new Map<string, ApplyTargetsResult>();
      if (entries.length === 0) return results;
      const ids = [...new Set(entries.map((entry) => entry.clusterId))].sort(compareText);
      if (ids.length !== entries.length) throw new Error("apply targets: a cluster is listed twice");
      const locked = new Map<string, { desiredSeq: number }>();
      const current = new Map<string, Map<string, typeof targets.$inferSelect>>();
      for (let i = 0; i < ids.length; i += ID_CHUNK) {
        const chunk = ids.slice(i, i + ID_CHUNK);
        const rows = await tx
          .select({ id: clusters.id, desiredSeq: clusters.desiredSeq })
          .from(clusters)
          .where(inArray(clusters.id, chunk))
          .orderBy(asc(clusters.id))
          .for("no key update");
        for (const row of rows) locked.set(row.id, row);
        for (const row of await tx.select().from(targets).where(inArray(targets.clusterId, chunk))) {
          const apps = current.get(row.clusterId) ?? new Map();
          current.set(row.clusterId, apps);
          apps.set(row.app, row);
        }
      }
      const updatedAt = now();
      const changedRows: Target[] = [];
      const removedRows: { clusterId: string; app: string; seq: number }[] = [];
      const seqUpdates: { id: string; seq: number }[] = [];
      for (const { clusterId, next } of entries) {
        const cluster = locked.get(clusterId);
        if (!cluster) throw new Error(`cluster ${clusterId}: apply targets: no such cluster`);
        const existing = current.get(clusterId) ?? new Map();
        let seq = cluster.desiredSeq;
        const changed: Target[] = [];
        const wanted = new Set<string>();
        for (const target of [...next].sort((a, b) => compareText(a.app, b.app))) {
          if (wanted.has(target.app))
            throw new Error(`cluster ${clusterId}: app ${target.app} targeted twice`);
          wanted.add(target.app);
          const old = existing.get(target.app);
          if (old && !old.removed && old.digest === target.digest) continue;
          seq += 1;
          changed.push({
            ...pickTarget(target),
            clusterId,
            seq,
            ackedSeq: old?.ackedSeq ?? 0,
            removed: false,
            updatedAt,
          });
        }
        const removed: { app: string; seq: number }[] = [];
        for (const old of [...existing.values()].sort((a, b) => compareText(a.app, b.app))) {
          if (wanted.has(old.app) || old.removed) continue;
          seq += 1;
          removed.push({ app: old.app, seq });
        }
        changedRows.push(...changed);
        for (const removal of removed) removedRows.push({ clusterId, ...removal });
        if (seq !== cluster.desiredSeq) seqUpdates.push({ id: clusterId, seq });
        results.set(clusterId, { changed, removed });
      }
      for (let i = 0; i < changedRows.length; i += INSERT_CHUNK_ROWS) {
        await tx
          .insert(targets)
          .values(changedRows.slice(i, i + INSERT_CHUNK_ROWS))
          .onConflictDoUpdate({
            target: [targets.clusterId, targets.app],
            set: {
              digest: sql`excluded.digest`,
              bundleDigest: sql`excluded.bundle_digest`,
              desired: sql`excluded.desired`,
              seq: sql`excluded.seq`,
              removed: false,
              updatedAt: sql`excluded.updated_at`,
            },
          });
      }
      for (const removal of removedRows) {
        await tx
          .update(targets)
          .set({ removed: true, seq: removal.seq, updatedAt })
          .where(and(eq(targets.clusterId, removal.clusterId), eq(targets.app, removal.app)));
      }
      for (let i = 0; i < seqUpdates.length; i += INSERT_CHUNK_ROWS) {
        const values = sql.join(
          seqUpdates.slice(i, i + INSERT_CHUNK_ROWS).map((row) => sql`(${row.id}::text, ${row.seq}::bigint)`),
          sql`, `,
        );
        await tx.execute(
          sql`update ${clusters} set desired_seq = v.seq from (values ${values}) as v(id, seq) where ${clusters.id} = v.id`,
        );
      }
      return results;
    });

  /** Checks a token and locks its row, without counting a use. */
  const checkToken = async (
    tx: Db,
    id: string,
    secret: string,
  ): Promise<{ ok: true } | { ok: false; reason: TokenRefusal }> => {
    const [row] = await tx.select().from(bootstrapTokens).where(eq(bootstrapTokens.id, id)).for("update");
    // A wrong secret reads as an unknown token, so a caller cannot learn which ids exist.
    if (!row || !secretMatches(row.secretHash, secret)) return { ok: false, reason: "unknown" };
    if (row.revokedAt) return { ok: false, reason: "revoked" };
    if (row.expiresAt && row.expiresAt.getTime() <= now().getTime()) return { ok: false, reason: "expired" };
    if (row.maxUses !== null && row.uses >= row.maxUses) return { ok: false, reason: "used-up" };
    return { ok: true };
  };

  const countTokenUse = async (tx: Db, id: string): Promise<BootstrapToken> => {
    const [token] = await tx
      .update(bootstrapTokens)
      .set({ uses: sql`${bootstrapTokens.uses} + 1` })
      .where(eq(bootstrapTokens.id, id))
      .returning(tokenColumns);
    if (!token) throw new Error(`bootstrap token ${id}: vanished while locked`);
    return token;
  };

  const getClusterWhere = async (where: SQL) => (await db.select().from(clusters).where(where))[0];

  return {
    clusters: {
      async create(cluster) {
        const [row] = await db
          .insert(clusters)
          .values({ ...cluster, state: "Pending", createdAt: now() })
          .onConflictDoNothing()
          .returning();
        if (row) return { ok: true, cluster: row };
        if (await getClusterWhere(eq(clusters.name, cluster.name)))
          return { ok: false, reason: "name-taken" };
        if (await getClusterWhere(eq(clusters.clusterUid, cluster.clusterUid))) {
          return { ok: false, reason: "uid-taken" };
        }
        throw new Error(`cluster ${cluster.name}: id ${cluster.id} is taken`);
      },

      register({ token, cluster, credential }) {
        return db.transaction(async (tx) => {
          const checked = await checkToken(tx, token.id, token.secret);
          if (!checked.ok) return checked;
          const [existing] = await tx
            .select()
            .from(clusters)
            .where(eq(clusters.clusterUid, cluster.clusterUid))
            .for("no key update");
          if (!existing) {
            const [named] = await tx
              .select({ id: clusters.id })
              .from(clusters)
              .where(eq(clusters.name, cluster.name));
            if (named) return { ok: false, reason: "name-taken" } as const;
          }
          const issued = await countTokenUse(tx, token.id);
          // The token's labels win: they are what the person who created it decided.
          const labels = { ...existing?.labels, ...cluster.labels, ...issued.labels };
          const info = {
            serverUrl: cluster.serverUrl ?? existing?.serverUrl ?? "",
            annotations: { ...existing?.annotations, ...cluster.annotations },
            kubeVersion: cluster.kubeVersion ?? existing?.kubeVersion ?? "",
            agentVersion: cluster.agentVersion ?? existing?.agentVersion ?? "",
          };
          // A re-join (same kube-system uid) keeps the cluster's id, name, targets and history.
          const [row] = existing
            ? await tx
                .update(clusters)
                .set({ labels, ...info })
                .where(eq(clusters.id, existing.id))
                .returning()
            : await tx
                .insert(clusters)
                .values({
                  id: cluster.id,
                  name: cluster.name,
                  clusterUid: cluster.clusterUid,
                  labels,
                  ...info,
                  createdAt: now(),
                })
                .returning();
          if (!row) throw new Error(`cluster ${cluster.name}: register wrote no row`);
          // Joining again replaces the cluster's identity: the credentials it had stop working.
          if (existing) {
            await tx
              .update(clusterCredentials)
              .set({ revokedAt: now() })
              .where(and(eq(clusterCredentials.clusterId, row.id), isNull(clusterCredentials.revokedAt)));
          }
          await tx.insert(clusterCredentials).values({
            id: credential.id,
            clusterId: row.id,
            secretHash: hashSecret(credential.secret),
            createdAt: now(),
          });
          return { ok: true, cluster: row, rejoined: existing !== undefined } as const;
        });
      },

      get: (id) => getClusterWhere(eq(clusters.id, id)),
      getByName: (name) => getClusterWhere(eq(clusters.name, name)),
      getByUid: (clusterUid) => getClusterWhere(eq(clusters.clusterUid, clusterUid)),
      list: () => db.select().from(clusters).orderBy(asc(clusters.name)),

      updateLabels(id, changes) {
        return db.transaction(async (tx) => {
          const cluster = await lockCluster(tx, id);
          if (!cluster) return undefined;
          const labels = { ...cluster.labels };
          for (const [key, value] of Object.entries(changes)) {
            if (value === null) delete labels[key];
            else labels[key] = value;
          }
          const [row] = await tx.update(clusters).set({ labels }).where(eq(clusters.id, id)).returning();
          return row;
        });
      },

      async updateInfo(id, info) {
        if (Object.keys(info).length === 0) return;
        await db.update(clusters).set(info).where(eq(clusters.id, id));
      },

      async remove(id) {
        const deleted = await db.delete(clusters).where(eq(clusters.id, id)).returning({ id: clusters.id });
        return deleted.length > 0;
      },

      async markSeen(id, at) {
        await db
          .update(clusters)
          .set({ lastSeenAt: at ?? now() })
          .where(eq(clusters.id, id));
      },

      async markSeenMany(ids, at) {
        const unique = [...new Set(ids)];
        const lastSeenAt = at ?? now();
        for (let i = 0; i < unique.length; i += INSERT_CHUNK_ROWS) {
          await db
            .update(clusters)
            .set({ lastSeenAt })
            .where(inArray(clusters.id, unique.slice(i, i + INSERT_CHUNK_ROWS)));
        }
      },

      async setState(id, state) {
        await db.update(clusters).set({ state }).where(eq(clusters.id, id));
      },

      async markDisconnectedIfSilent(id, cutoff) {
        const rows = await db
          .update(clusters)
          .set({ state: "Disconnected" })
          .where(and(eq(clusters.id, id), eq(clusters.state, "Connected"), lt(clusters.lastSeenAt, cutoff)))
          .returning({ id: clusters.id });
        return rows.length > 0;
      },
    },

    bootstrapTokens: {
      async create(token) {
        const [row] = await db
          .insert(bootstrapTokens)
          .values({
            id: token.id,
            secretHash: hashSecret(token.secret),
            labels: token.labels ?? {},
            expiresAt: token.expiresAt ?? null,
            maxUses: token.maxUses ?? null,
            createdAt: now(),
            createdBy: token.createdBy ?? "",
          })
          .returning(tokenColumns);
        if (!row) throw new Error(`bootstrap token ${token.id}: insert returned no row`);
        return row;
      },

      async get(id) {
        return (await db.select(tokenColumns).from(bootstrapTokens).where(eq(bootstrapTokens.id, id)))[0];
      },

      list: () =>
        db
          .select(tokenColumns)
          .from(bootstrapTokens)
          .orderBy(desc(bootstrapTokens.createdAt), asc(bootstrapTokens.id)),

      consume(id, secret) {
        return db.transaction(async (tx): Promise<ConsumeTokenResult> => {
          const checked = await checkToken(tx, id, secret);
          if (!checked.ok) return checked;
          return { ok: true, token: await countTokenUse(tx, id) };
        });
      },

      async revoke(id) {
        const rows = await db
          .update(bootstrapTokens)
          .set({ revokedAt: now() })
          .where(and(eq(bootstrapTokens.id, id), sql`${bootstrapTokens.revokedAt} is null`))
          .returning({ id: bootstrapTokens.id });
        return rows.length > 0;
      },
    },

    credentials: {
      add({ id, clusterId, secret, retireOthersAt }) {
        return db.transaction(async (tx) => {
          if (retireOthersAt) {
            await tx
              .update(clusterCredentials)
              .set({ expiresAt: retireOthersAt })
              .where(
                and(
                  eq(clusterCredentials.clusterId, clusterId),
                  sql`${clusterCredentials.revokedAt} is null`,
                  sql`(${clusterCredentials.expiresAt} is null or ${clusterCredentials.expiresAt} > ${retireOthersAt})`,
                ),
              );
          }
          await tx
            .insert(clusterCredentials)
            .values({ id, clusterId, secretHash: hashSecret(secret), createdAt: now() });
        });
      },

      async verify(id, secret) {
        const [row] = await db.select().from(clusterCredentials).where(eq(clusterCredentials.id, id));
        if (!row || !secretMatches(row.secretHash, secret)) return { ok: false, reason: "unknown" };
        if (row.revokedAt) return { ok: false, reason: "revoked" };
        if (row.expiresAt && row.expiresAt.getTime() <= now().getTime())
          return { ok: false, reason: "expired" };
        return { ok: true, clusterId: row.clusterId };
      },

      listForCluster: (clusterId) =>
        db
          .select(credentialColumns)
          .from(clusterCredentials)
          .where(eq(clusterCredentials.clusterId, clusterId))
          .orderBy(asc(clusterCredentials.createdAt), asc(clusterCredentials.id)),

      async revoke(id) {
        const rows = await db
          .update(clusterCredentials)
          .set({ revokedAt: now() })
          .where(and(eq(clusterCredentials.id, id), sql`${clusterCredentials.revokedAt} is null`))
          .returning({ id: clusterCredentials.id });
        return rows.length > 0;
      },
    },

    apiTokens: {
      async create(token) {
        const [row] = await db
          .insert(apiTokens)
          .values({
            id: token.id,
            name: token.name,
            secretHash: hashSecret(token.secret),
            role: token.role,
            clusterSelector: token.clusterSelector ?? null,
            createdAt: now(),
          })
          .returning(apiTokenColumns);
        if (!row) throw new Error(`api token ${token.name}: insert returned no row`);
        return row;
      },

      async verify(id, secret) {
        const [row] = await db.select().from(apiTokens).where(eq(apiTokens.id, id));
        if (!row || !secretMatches(row.secretHash, secret)) return { ok: false, reason: "unknown" };
        if (row.revokedAt) return { ok: false, reason: "revoked" };
        const { secretHash: _, ...token } = row;
        return { ok: true, token: token satisfies ApiToken };
      },

      list: () =>
        db.select(apiTokenColumns).from(apiTokens).orderBy(asc(apiTokens.createdAt), asc(apiTokens.id)),

      async revoke(id) {
        const rows = await db
          .update(apiTokens)
          .set({ revokedAt: now() })
          .where(and(eq(apiTokens.id, id), sql`${apiTokens.revokedAt} is null`))
          .returning({ id: apiTokens.id });
        return rows.length > 0;
      },
    },

    sources: {
      async add(source) {
        const [row] = await db
          .insert(sources)
          .values({
            id: source.id,
            repoUrl: source.repoUrl,
            path: source.path ?? "",
            targetRevision: source.targetRevision ?? "HEAD",
            pollIntervalMs: source.pollIntervalMs,
            webhookSecret: source.webhookSecret ?? null,
            createdAt: now(),
          })
          .onConflictDoNothing()
          .returning(sourceSelection);
        return row ? { ok: true, source: row satisfies Source } : { ok: false, reason: "exists" };
      },

      async get(id) {
        return (await db.select(sourceSelection).from(sources).where(eq(sources.id, id)))[0];
      },

      list: () => db.select(sourceSelection).from(sources).orderBy(asc(sources.createdAt), asc(sources.id)),

      async getWebhookSecret(id) {
        const [row] = await db
          .select({ secret: sources.webhookSecret })
          .from(sources)
          .where(eq(sources.id, id));
        return row?.secret ?? null;
      },

      async remove(id) {
        const rows = await db.delete(sources).where(eq(sources.id, id)).returning({ id: sources.id });
        return rows.length > 0;
      },

      async putResolution(resolution) {
        const values = { ...resolution, updatedAt: now() };
        await db.transaction(async (tx) => {
          const [source] = await tx
            .select({ id: sources.id })
            .from(sources)
            .where(eq(sources.id, resolution.sourceId))
            .for("update");
          if (!source) return;
          await tx
            .insert(sourceResolutions)
            .values(values)
            .onConflictDoUpdate({ target: sourceResolutions.sourceId, set: values });
        });
      },

      listResolutions: () => db.select().from(sourceResolutions).orderBy(asc(sourceResolutions.sourceId)),
    },

    bundles: {
      async put(bundle) {
        const rows = await db
          .insert(bundles)
          .values({ ...bundle, createdAt: now() })
          .onConflictDoNothing()
          .returning({ digest: bundles.digest });
        return rows.length > 0;
      },

      async get(digest) {
        const [row] = await db
          .select({
            digest: bundles.digest,
            encoding: bundles.encoding,
            bytes: bundles.bytes,
            objectCount: bundles.objectCount,
          })
          .from(bundles)
          .where(eq(bundles.digest, digest));
        // node-postgres hands out a Buffer; callers get a plain Uint8Array view either way.
        return (
          row && {
            ...row,
            bytes: new Uint8Array(row.bytes.buffer, row.bytes.byteOffset, row.bytes.byteLength),
          }
        );
      },

      async has(digest) {
        const rows = await db
          .select({ digest: bundles.digest })
          .from(bundles)
          .where(eq(bundles.digest, digest));
        return rows.length > 0;
      },

      async pruneUnreferenced(olderThan) {
        const rows = await db
          .delete(bundles)
          .where(
            and(
              lt(bundles.createdAt, olderThan),
              sql`not exists (select 1 from ${targets} where ${targets.bundleDigest} = ${bundles.digest})`,
            ),
          )
          .returning({ digest: bundles.digest });
        return rows.length;
      },
    },

    targets: {
      async apply(clusterId, next) {
        const results = await applyTargets([{ clusterId, next }]);
        return results.get(clusterId) ?? { changed: [], removed: [] };
      },

      applyMany: (entries) => applyTargets(entries),

      list: (clusterId) =>
        db.select().from(targets).where(eq(targets.clusterId, clusterId)).orderBy(asc(targets.seq)),

      listUnacked: (clusterId) =>
        db
          .select()
          .from(targets)
          .where(and(eq(targets.clusterId, clusterId), sql`${targets.seq} > ${targets.ackedSeq}`))
          .orderBy(asc(targets.seq)),

      markAcked(clusterId, app, seq) {
        return db.transaction(async (tx) => {
          // Lock the cluster first, in the same order as apply(), so the two cannot deadlock.
          if (!(await lockCluster(tx, clusterId))) return false;
          const [row] = await tx
            .update(targets)
            .set({ ackedSeq: sql`greatest(${targets.ackedSeq}, ${seq})` })
            .where(and(eq(targets.clusterId, clusterId), eq(targets.app, app)))
            .returning();
          if (!row) return false;
          if (row.removed && row.ackedSeq >= row.seq) {
            await tx.delete(targets).where(and(eq(targets.clusterId, clusterId), eq(targets.app, app)));
          }
          await tx
            .update(clusters)
            .set({ ackedSeq: sql`greatest(${clusters.ackedSeq}, ${seq})` })
            .where(eq(clusters.id, clusterId));
          return true;
        });
      },
    },

    statuses: {
      async upsert(status) {
        const row = statusRow(status);
        const { clusterId: _, app: __, ...update } = row;
        await db
          .insert(appStatuses)
          .values(row)
          .onConflictDoUpdate({ target: [appStatuses.clusterId, appStatuses.app], set: update });
      },

      async upsertMany(statuses) {
        // One row per (cluster, app), the last report winning: PostgreSQL refuses an INSERT ...
        // ON CONFLICT that would update the same row twice.
        const latest = new Map<string, AppStatusInput>();
        for (const status of statuses) latest.set(`${status.clusterId}\u0000${status.app}`, status);
        const rows = [...latest.values()].map(statusRow);
        for (let i = 0; i < rows.length; i += INSERT_CHUNK_ROWS) {
          await db
            .insert(appStatuses)
            .values(rows.slice(i, i + INSERT_CHUNK_ROWS))
            .onConflictDoUpdate({
              target: [appStatuses.clusterId, appStatuses.app],
              set: {
                digest: sql`excluded.digest`,
                revision: sql`excluded.revision`,
                sync: sql`excluded.sync`,
                health: sql`excluded.health`,
                healthMessage: sql`excluded.health_message`,
                operation: sql`excluded.operation`,
                resources: sql`excluded.resources`,
                conditions: sql`excluded.conditions`,
                observedAt: sql`excluded.observed_at`,
                stale: sql`excluded.stale`,
              },
            });
        }
      },

      async get(clusterId, app) {
        const [row] = await db
          .select()
          .from(appStatuses)
          .where(and(eq(appStatuses.clusterId, clusterId), eq(appStatuses.app, app)));
        return row;
      },

      list: (clusterId) =>
        db
          .select()
          .from(appStatuses)
          .where(clusterId === undefined ? undefined : eq(appStatuses.clusterId, clusterId))
          .orderBy(asc(appStatuses.clusterId), asc(appStatuses.app)),

      async markStale(clusterId) {
        const rows = await db
          .update(appStatuses)
          .set({ stale: true })
          .where(and(eq(appStatuses.clusterId, clusterId), eq(appStatuses.stale, false)))
          .returning({ app: appStatuses.app });
        return rows.length;
      },

      async remove(clusterId, app) {
        const rows = await db
          .delete(appStatuses)
          .where(and(eq(appStatuses.clusterId, clusterId), eq(appStatuses.app, app)))
          .returning({ app: appStatuses.app });
        return rows.length > 0;
      },
    },

    events: {
      async append(event) {
        const [row] = await db
          .insert(events)
          .values({
            at: event.at ?? now(),
            clusterId: event.clusterId ?? null,
            app: event.app ?? null,
            type: event.type,
            message: event.message ?? "",
            data: event.data ?? {},
          })
          .returning();
        if (!row) throw new Error(`event ${event.type}: insert returned no row`);
        return row satisfies HubEvent;
      },

      async appendMany(list) {
        const at = now();
        const rows = list.map((event) => ({
          at: event.at ?? at,
          clusterId: event.clusterId ?? null,
          app: event.app ?? null,
          type: event.type,
          message: event.message ?? "",
          data: event.data ?? {},
        }));
        for (let i = 0; i < rows.length; i += INSERT_CHUNK_ROWS) {
          await db.insert(events).values(rows.slice(i, i + INSERT_CHUNK_ROWS));
        }
      },

      async list(query = {}): Promise<EventPage> {
        const limit = Math.min(Math.max(1, query.limit ?? EVENTS_PAGE_DEFAULT), EVENTS_PAGE_MAX);
        const rows = await db
          .select()
          .from(events)
          .where(
            and(
              query.clusterId === undefined ? undefined : eq(events.clusterId, query.clusterId),
              query.app === undefined ? undefined : eq(events.app, query.app),
              query.type === undefined ? undefined : eq(events.type, query.type),
              query.since === undefined ? undefined : gte(events.at, query.since),
              query.before === undefined ? undefined : lt(events.id, query.before),
              query.after === undefined ? undefined : gt(events.id, query.after),
            ),
          )
          .orderBy(query.after === undefined ? desc(events.id) : asc(events.id))
          .limit(limit + 1);
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return rows.length > limit && last ? { events: page, next: last.id } : { events: page };
      },

      async prune({ olderThan, maxRows }) {
        let deleted = 0;
        if (olderThan) {
          const rows = await db.delete(events).where(lt(events.at, olderThan)).returning({ id: events.id });
          deleted += rows.length;
        }
        if (maxRows !== undefined) {
          const keep = Math.max(0, Math.floor(maxRows));
          const [newestDropped] = await db
            .select({ id: events.id })
            .from(events)
            .orderBy(desc(events.id))
            .offset(keep)
            .limit(1);
          if (newestDropped) {
            const rows = await db
              .delete(events)
              .where(lte(events.id, newestDropped.id))
              .returning({ id: events.id });
            deleted += rows.length;
          }
        }
        return deleted;
      },
    },

    syncRequests: {
      async add(request) {
        const [row] = await db
          .insert(syncRequests)
          .values({
            clusterId: request.clusterId,
            app: request.app,
            requestId: request.requestId,
            prune: request.prune ?? false,
            dryRun: request.dryRun ?? false,
            force: request.force ?? false,
            requestedBy: request.requestedBy ?? "",
            createdAt: now(),
          })
          .onConflictDoNothing({ target: syncRequests.requestId })
          .returning();
        return row ? { ok: true, request: row } : { ok: false, reason: "duplicate" };
      },

      listPending: (clusterId) =>
        db
          .select()
          .from(syncRequests)
          .where(and(eq(syncRequests.clusterId, clusterId), sql`${syncRequests.ackedAt} is null`))
          .orderBy(asc(syncRequests.id)),

      async ack(clusterId, requestId) {
        const rows = await db
          .update(syncRequests)
          .set({ ackedAt: now() })
          .where(
            and(
              eq(syncRequests.clusterId, clusterId),
              eq(syncRequests.requestId, requestId),
              sql`${syncRequests.ackedAt} is null`,
            ),
          )
          .returning({ id: syncRequests.id });
        return rows.length > 0;
      },
    },

    rollouts: {
      async list() {
        return db.select().from(rollouts).orderBy(asc(rollouts.name));
      },
      async get(name) {
        const rows = await db.select().from(rollouts).where(eq(rollouts.name, name));
        return rows[0];
      },
      async put(name, state) {
        const values = { name, state, updatedAt: new Date() };
        await db
          .insert(rollouts)
          .values(values)
          .onConflictDoUpdate({ target: rollouts.name, set: { state, updatedAt: values.updatedAt } });
      },
      async remove(name) {
        const rows = await db
          .delete(rollouts)
          .where(eq(rollouts.name, name))
          .returning({ name: rollouts.name });
        return rows.length > 0;
      },
      async addCommand(command) {
        const rows = await db
          .insert(rolloutCommands)
          .values({ ...command, createdAt: new Date() })
          .returning();
        const row = rows[0];
        if (!row) throw new Error(`rollout ${command.rollout}: the ${command.action} command was not stored`);
        return row as RolloutCommand;
      },
      async listCommands() {
        const rows = await db.select().from(rolloutCommands).orderBy(asc(rolloutCommands.id));
        return rows as RolloutCommand[];
      },
      async removeCommands(ids) {
        if (ids.length === 0) return;
        await db.delete(rolloutCommands).where(inArray(rolloutCommands.id, [...ids]));
      },
    },

    leases: {
      async tryAcquire(name, holder, ttlMs) {
        const rows = await db
          .insert(leases)
          .values({ name, holder, expiresAt: leaseExpiry(ttlMs) })
          .onConflictDoUpdate({
            target: leases.name,
            set: { holder, expiresAt: sql`excluded.expires_at` },
            setWhere: sql`${leases.holder} = ${holder} or ${leases.expiresAt} <= clock_timestamp()`,
          })
          .returning({ holder: leases.holder });
        return rows.length > 0;
      },

      async renew(name, holder, ttlMs) {
        const rows = await db
          .update(leases)
          .set({ expiresAt: leaseExpiry(ttlMs) })
          .where(
            and(
              eq(leases.name, name),
              eq(leases.holder, holder),
              sql`${leases.expiresAt} > clock_timestamp()`,
            ),
          )
          .returning({ name: leases.name });
        return rows.length > 0;
      },

      async release(name, holder) {
        await db.delete(leases).where(and(eq(leases.name, name), eq(leases.holder, holder)));
      },

      async get(name) {
        return (await db.select().from(leases).where(eq(leases.name, name)))[0];
      },
    },

    async ping(timeoutMs = 2_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const tooSlow = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        const answered = db.execute(sql`select 1`).then(
          () => true,
          () => false,
        );
        return await Promise.race([answered, tooSlow]);
      } finally {
        clearTimeout(timer);
      }
    },

    close,
  };
}

function leaseExpiry(ttlMs: number): SQL<Date> {
  return sql`clock_timestamp() + ${Math.max(0, Math.round(ttlMs))} * interval '1 millisecond'`;
}

/** Only the columns a target row stores, whatever else the caller's object carries. */
function pickTarget({ app, digest, bundleDigest, desired }: TargetInput): TargetInput {
  return { app, digest, bundleDigest, desired };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The row of one report: every column set, stale cleared. */
function statusRow(status: AppStatusInput) {
  return {
    clusterId: status.clusterId,
    app: status.app,
    digest: status.digest,
    revision: status.revision,
    sync: status.sync,
    health: status.health,
    healthMessage: status.healthMessage ?? "",
    operation: status.operation ?? null,
    resources: status.resources ?? [],
    conditions: status.conditions ?? [],
    observedAt: status.observedAt,
    stale: false,
  };
}
