import { defineConfig } from "drizzle-kit";

// `npx drizzle-kit generate` (from hub/) writes a new migration into drizzle/ after a change to
// the schema; `npx drizzle-kit check` validates the folder. Commit both the SQL and meta/.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/store/schema.ts",
  out: "./drizzle",
});
