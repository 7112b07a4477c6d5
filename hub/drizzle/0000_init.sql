CREATE TABLE "api_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"secret_hash" text NOT NULL,
	"role" text NOT NULL,
	"cluster_selector" text,
	"created_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_tokens_role_check" CHECK ("api_tokens"."role" in ('admin', 'viewer'))
);
--> statement-breakpoint
CREATE TABLE "app_statuses" (
	"cluster_id" text NOT NULL,
	"app" text NOT NULL,
	"digest" text DEFAULT '' NOT NULL,
	"revision" text DEFAULT '' NOT NULL,
	"sync" text NOT NULL,
	"health" text NOT NULL,
	"health_message" text DEFAULT '' NOT NULL,
	"operation" jsonb,
	"resources" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"conditions" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"observed_at" timestamp with time zone NOT NULL,
	"stale" boolean DEFAULT false NOT NULL,
	CONSTRAINT "app_statuses_cluster_id_app_pk" PRIMARY KEY("cluster_id","app")
);
--> statement-breakpoint
CREATE TABLE "bootstrap_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"secret_hash" text NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"expires_at" timestamp with time zone,
	"max_uses" integer,
	"uses" integer DEFAULT 0 NOT NULL,
	"revoked_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"created_by" text DEFAULT '' NOT NULL,
	CONSTRAINT "bootstrap_tokens_uses_check" CHECK ("bootstrap_tokens"."max_uses" is null or "bootstrap_tokens"."uses" <= "bootstrap_tokens"."max_uses")
);
--> statement-breakpoint
CREATE TABLE "bundles" (
	"digest" text PRIMARY KEY NOT NULL,
	"encoding" text NOT NULL,
	"bytes" "bytea" NOT NULL,
	"object_count" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cluster_credentials" (
	"id" text PRIMARY KEY NOT NULL,
	"cluster_id" text NOT NULL,
	"secret_hash" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "clusters" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"cluster_uid" text NOT NULL,
	"server_url" text DEFAULT '' NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"annotations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"kube_version" text DEFAULT '' NOT NULL,
	"agent_version" text DEFAULT '' NOT NULL,
	"state" text DEFAULT 'Pending' NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone,
	"desired_seq" bigint DEFAULT 0 NOT NULL,
	"acked_seq" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "clusters_name_unique" UNIQUE("name"),
	CONSTRAINT "clusters_cluster_uid_unique" UNIQUE("cluster_uid"),
	CONSTRAINT "clusters_state_check" CHECK ("clusters"."state" in ('Pending', 'Connected', 'Disconnected'))
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"cluster_id" text,
	"app" text,
	"type" text NOT NULL,
	"message" text DEFAULT '' NOT NULL,
	"data" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "leases" (
	"name" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sources" (
	"id" text PRIMARY KEY NOT NULL,
	"repo_url" text NOT NULL,
	"path" text DEFAULT '' NOT NULL,
	"target_revision" text DEFAULT 'HEAD' NOT NULL,
	"poll_interval_ms" integer NOT NULL,
	"webhook_secret" text,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sync_requests" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"cluster_id" text NOT NULL,
	"app" text NOT NULL,
	"request_id" text NOT NULL,
	"prune" boolean DEFAULT false NOT NULL,
	"dry_run" boolean DEFAULT false NOT NULL,
	"force" boolean DEFAULT false NOT NULL,
	"requested_by" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"acked_at" timestamp with time zone,
	CONSTRAINT "sync_requests_request_id_unique" UNIQUE("request_id")
);
--> statement-breakpoint
CREATE TABLE "targets" (
	"cluster_id" text NOT NULL,
	"app" text NOT NULL,
	"digest" text NOT NULL,
	"bundle_digest" text NOT NULL,
	"desired" jsonb NOT NULL,
	"seq" bigint NOT NULL,
	"acked_seq" bigint DEFAULT 0 NOT NULL,
	"removed" boolean DEFAULT false NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "targets_cluster_id_app_pk" PRIMARY KEY("cluster_id","app")
);
--> statement-breakpoint
ALTER TABLE "app_statuses" ADD CONSTRAINT "app_statuses_cluster_id_clusters_id_fk" FOREIGN KEY ("cluster_id") REFERENCES "public"."clusters"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cluster_credentials" ADD CONSTRAINT "cluster_credentials_cluster_id_clusters_id_fk" FOREIGN KEY ("cluster_id") REFERENCES "public"."clusters"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sync_requests" ADD CONSTRAINT "sync_requests_cluster_id_clusters_id_fk" FOREIGN KEY ("cluster_id") REFERENCES "public"."clusters"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "targets" ADD CONSTRAINT "targets_cluster_id_clusters_id_fk" FOREIGN KEY ("cluster_id") REFERENCES "public"."clusters"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "cluster_credentials_cluster_idx" ON "cluster_credentials" USING btree ("cluster_id");--> statement-breakpoint
CREATE INDEX "events_at_idx" ON "events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "events_cluster_at_idx" ON "events" USING btree ("cluster_id","at");--> statement-breakpoint
CREATE INDEX "events_app_at_idx" ON "events" USING btree ("app","at");--> statement-breakpoint
CREATE UNIQUE INDEX "sources_location_idx" ON "sources" USING btree ("repo_url","path","target_revision");--> statement-breakpoint
CREATE INDEX "sync_requests_pending_idx" ON "sync_requests" USING btree ("cluster_id","id") WHERE "sync_requests"."acked_at" is null;--> statement-breakpoint
CREATE INDEX "targets_cluster_seq_idx" ON "targets" USING btree ("cluster_id","seq");