import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { useNats } from "./nats.js";

async function withConnection<T>(url: string, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: url });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

describe("nats", () => {
  const nats = useNats();

  it("listens on loopback with JetStream enabled", async () => {
    assert.match(nats().url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${nats().monitorUrl}/jsz`);
    assert.equal(response.status, 200);
    const jsz = (await response.json()) as { config?: { store_dir?: string } };
    assert.ok(jsz.config?.store_dir, "JetStream reports a store dir");
  });

  it("publishes to a JetStream stream and consumes the message", async () => {
    const received = await withConnection(nats().url, async (nc) => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "REPORTS", subjects: ["reports.>"] });
      await jsm.consumers.add("REPORTS", { durable_name: "hub" });
      const js = jetstream(nc);
      const ack = await js.publish("reports.cluster-a", JSON.stringify({ revision: "abc123" }));
      assert.equal(ack.stream, "REPORTS");
      assert.equal(ack.seq, 1);
      const consumer = await js.consumers.get("REPORTS", "hub");
      const message = await consumer.next({ expires: 5_000 });
      assert.ok(message, "a message arrives before the fetch expires");
      message.ack();
      return { subject: message.subject, body: message.json<{ revision: string }>() };
    });
    assert.deepEqual(received, { subject: "reports.cluster-a", body: { revision: "abc123" } });
  });

  it("keeps streams across a restart on the same URL", async () => {
    const url = nats().url;
    await nats().restart();
    assert.equal(nats().url, url);
    const messages = await withConnection(url, async (nc) => {
      const jsm = await jetstreamManager(nc);
      return (await jsm.streams.info("REPORTS")).state.messages;
    });
    assert.equal(messages, 1);
  });
});
