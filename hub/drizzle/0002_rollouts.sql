CREATE TABLE "rollout_commands" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"rollout" text NOT NULL,
	"action" text NOT NULL,
	"all" boolean DEFAULT false NOT NULL,
	"actor" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rollouts" (
	"name" text PRIMARY KEY NOT NULL,
	"state" jsonb NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
