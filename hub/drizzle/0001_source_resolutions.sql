CREATE TABLE "source_resolutions" (
	"source_id" text PRIMARY KEY NOT NULL,
	"revision" text DEFAULT '' NOT NULL,
	"fetched_at" timestamp with time zone,
	"error" text DEFAULT '' NOT NULL,
	"apps" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "source_resolutions" ADD CONSTRAINT "source_resolutions_source_id_sources_id_fk" FOREIGN KEY ("source_id") REFERENCES "public"."sources"("id") ON DELETE cascade ON UPDATE no action;