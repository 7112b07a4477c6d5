import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pg from "pg";
import { usePostgres } from "./postgres.js";

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe("postgres", () => {
  const postgres = usePostgres();

  it("stores and reads back rows in the flotilla database", async () => {
    const { url } = postgres();
    assert.match(url, /^postgres:\/\/flotilla:[^@]+@127\.0\.0\.1:\d+\/flotilla$/);
    const rows = await withClient(url, async (client) => {
      await client.query("create table apps (name text primary key, revision text not null)");
      await client.query("insert into apps values ($1, $2), ($3, $4)", ["demo", "abc123", "web", "def456"]);
      const result = await client.query<{ name: string; revision: string }>(
        "select name, revision from apps order by name",
      );
      return result.rows;
    });
    assert.deepEqual(rows, [
      { name: "demo", revision: "abc123" },
      { name: "web", revision: "def456" },
    ]);
  });

  it("creates a separate empty database on request", async () => {
    const url = await postgres().createDatabase("isolated");
    assert.match(url, /\/isolated$/);
    const tables = await withClient(url, async (client) => {
      const result = await client.query("select count(*)::int as n from pg_tables where tablename = 'apps'");
      return result.rows[0]?.n;
    });
    assert.equal(tables, 0);
  });

  it("refuses a connection without the password", async () => {
    const url = new URL(postgres().url);
    url.password = "wrong";
    await assert.rejects(
      withClient(url.toString(), (client) => client.query("select 1")),
      /password authentication failed/,
    );
  });
});
