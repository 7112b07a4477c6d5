import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { createHttpClient } from "./create-http-client.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Server[] = [];
after(async () => {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

async function serve(handler: Handler): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Resolves when `count` requests have arrived; handlers call `arrived()`. */
function countArrivals(count: number): { arrived: () => void; all: Promise<void> } {
  let seen = 0;
  let release = () => {};
  const all = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    arrived: () => {
      if (++seen >= count) release();
    },
    all,
  };
}

async function readAll(body: AsyncIterable<Uint8Array> | undefined): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body ?? []) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

describe("createHttpClient", () => {
  it("sends a body with its length and returns the answer", async () => {
    const url = await serve((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => res.end(`${req.method} ${req.headers["content-length"]} ${body}`));
    });
    const client = createHttpClient(new AbortController().signal);
    const response = await client.request({ url, method: "POST", body: [Buffer.from("hello")] as never });
    assert.equal(response.statusCode, 200);
    assert.equal(await readAll(response.body), "POST 5 hello");
  });

  it("fails a request the server never answers once the signal aborts", async () => {
    const requests = countArrivals(1);
    const url = await serve(() => requests.arrived());
    const controller = new AbortController();
    const pending = createHttpClient(controller.signal).request({ url });
    await requests.all;
    controller.abort();
    await assert.rejects(pending, { name: "AbortError" });
  });

  it("fails a body that stops half-way once the signal aborts", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { "Content-Length": "100" });
      res.write("partial");
    });
    const controller = new AbortController();
    const response = await createHttpClient(controller.signal).request({ url });
    const reading = readAll(response.body);
    controller.abort();
    await assert.rejects(reading);
  });

  it("follows a redirect, with credentials only for the origin that was asked", async () => {
    const seen: (string | undefined)[] = [];
    const other = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.end("moved here");
    });
    const url = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(301, { Location: `${other}/x` });
      res.end();
    });
    const client = createHttpClient(new AbortController().signal);
    const crossed = await client.request({
      url: `${url}/start`,
      headers: { Authorization: "Basic c2VjcmV0" },
    });
    assert.equal(await readAll(crossed.body), "moved here");
    assert.deepEqual(seen, ["Basic c2VjcmV0", undefined]);
  });
});
