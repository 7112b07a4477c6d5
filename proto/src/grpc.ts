// The one adapter between protobuf-es service descriptors (the generated `*Service` constants in
// ./gen) and @grpc/grpc-js. Hub and agent use this module instead of importing grpc-js.
//
// Client calls throw GrpcError; server handlers throw GrpcError to choose the status code, and
// anything else they throw reaches the caller as INTERNAL with the error's message.
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

export { type ChannelCredentials, credentials, type Server, ServerCredentials } from "@grpc/grpc-js";

/** A gRPC status code other than OK, by its canonical name. */
export type GrpcCode = Exclude<keyof typeof grpc.status, "OK">;

/** A call that ended with a non-OK status; `code` says why, `details` is the peer's message. */
export class GrpcError extends Error {
  override readonly name = "GrpcError";
  readonly code: GrpcCode;
  readonly details: string;

  constructor(code: GrpcCode, details: string, options?: ErrorOptions) {
    super(`${code}: ${details}`, options);
    this.code = code;
    this.details = details;
  }
}

/** Per-call options of client methods. */
export interface CallOptions {
  /** Aborting cancels the call; the call then fails with CANCELLED. */
  signal?: AbortSignal;
  /** Request metadata (gRPC headers), for example `{ authorization: "Bearer ..." }`. */
  metadata?: Readonly<Record<string, string>>;
  /** Milliseconds from the start of the call until it fails with DEADLINE_EXCEEDED. */
  deadlineMs?: number;
}

/** Channel and server limits. Defaults are grpc-js's: 4 MiB receive, unlimited send. */
export interface TransportOptions {
  maxReceiveMessageBytes?: number;
  maxSendMessageBytes?: number;
  /** Interval of HTTP/2 keepalive pings; unset sends none. */
  keepaliveTimeMs?: number;
  /** How long to wait for a ping's answer before closing the connection (grpc-js: 20 s). */
  keepaliveTimeoutMs?: number;
  /** Further grpc-js channel options, applied last. */
  channelOptions?: grpc.ChannelOptions;
}

/**
 * A client bidi call: iterate for responses (iteration ends when the server ends the call with
 * OK and throws GrpcError otherwise; leaving the loop early cancels the call), `send` requests.
 */
export interface BidiStream<I extends DescMessage, O extends DescMessage>
  extends AsyncIterable<MessageShape<O>> {
  /**
   * Queues a message. Resolves once the transport took it (HTTP/2 flow control applies), so
   * awaiting each send keeps memory bounded. Rejects with GrpcError once the call has ended.
   */
  send(message: MessageInitShape<I>): Promise<void>;
  /** Half-closes: no more sends; responses keep arriving until the server ends the call. */
  end(): void;
  /** Ends the call at once; the server sees a cancellation, iteration fails with CANCELLED. */
  cancel(): void;
}

type ClientMethod<M extends DescMethod> = {
  unary: (request: MessageInitShape<M["input"]>, options?: CallOptions) => Promise<MessageShape<M["output"]>>;
  server_streaming: (
    request: MessageInitShape<M["input"]>,
    options?: CallOptions,
  ) => AsyncIterable<MessageShape<M["output"]>>;
  client_streaming: never;
  bidi_streaming: (options?: CallOptions) => BidiStream<M["input"], M["output"]>;
}[M["methodKind"]];

/**
 * A typed client: unary methods return a promise; server-streaming methods an async iterable
 * that starts the call when iterated and cancels it when the loop exits early; bidi methods a
 * BidiStream. Client-streaming methods are not supported.
 */
export type Client<S extends DescService> = { [K in keyof S["method"]]: ClientMethod<S["method"][K]> };

/** What a server handler knows about its call. */
export interface HandlerContext {
  /** Aborts when the call ends: client cancellation, deadline, lost connection or a status sent. */
  readonly signal: AbortSignal;
  /** Request metadata by lowercase key (first value); binary "-bin" entries are left out. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Remote address, "host:port". */
  readonly peer: string;
}

/** The server side of a bidi call: iterate for requests, `send` responses. */
export interface ServerBidiStream<I extends DescMessage, O extends DescMessage>
  extends AsyncIterable<MessageShape<I>> {
  /** As BidiStream.send; rejects with GrpcError once the call has ended. */
  send(message: MessageInitShape<O>): Promise<void>;
}

type ServiceHandler<M extends DescMethod> = {
  unary: (
    request: MessageShape<M["input"]>,
    context: HandlerContext,
  ) => Promise<MessageInitShape<M["output"]>>;
  server_streaming: (
    request: MessageShape<M["input"]>,
    context: HandlerContext,
  ) => AsyncIterable<MessageInitShape<M["output"]>>;
  client_streaming: never;
  bidi_streaming: (
    stream: ServerBidiStream<M["input"], M["output"]>,
    context: HandlerContext,
  ) => Promise<void>;
}[M["methodKind"]];

/**
 * Handlers by method: unary ones resolve with the response; server-streaming ones are async
 * generators; bidi ones get a ServerBidiStream and resolve when done, which ends the call with
 * OK. Methods left out answer UNIMPLEMENTED.
 */
export type ServiceImpl<S extends DescService> = { [K in keyof S["method"]]: ServiceHandler<S["method"][K]> };

/** The grpc-js definition of a service: paths, streaming flags and protobuf-es (de)serializers. */
export function createServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: createSerializer(method.input),
      requestDeserialize: createDeserializer(method.input),
      responseSerialize: createSerializer(method.output),
      responseDeserialize: createDeserializer(method.output),
    };
  }
  return definition;
}

/** A grpc-js server with the given limits; bind it with `bindServer`. */
export function createServer(options: TransportOptions = {}): grpc.Server {
  return new grpc.Server(toChannelOptions(options));
}

/** Listens on `address` ("127.0.0.1:0" picks a free port) and resolves with the bound port. */
export function bindServer(
  server: grpc.Server,
  address: string,
  creds: grpc.ServerCredentials,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (error, port) => {
      if (error) reject(new Error(`gRPC server: cannot listen on ${address}`, { cause: error }));
      else resolve(port);
    });
  });
}

/** Stops accepting calls, waits up to `graceMs` for running calls, then cancels the rest. */
export function stopServer(server: grpc.Server, graceMs = 0): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Registers `impl` for `service` on `server`. Call before `bindServer`. */
export function addService<S extends DescService>(
  server: grpc.Server,
  service: S,
  impl: Partial<ServiceImpl<S>>,
): void {
  const handlers: grpc.UntypedServiceImplementation = {};
  const implByName = impl as Record<string, ((...args: never[]) => unknown) | undefined>;
  for (const method of service.methods) {
    const handler = implByName[method.localName];
    if (handler === undefined) continue;
    handlers[method.localName] = createGrpcHandler(method, handler.bind(impl) as AnyHandler);
  }
  server.addService(createServiceDefinition(service), handlers);
}

const channels = new WeakMap<object, grpc.Client>();

/** A typed client for `service` at `address` ("host:port"). Close it with `closeClient`. */
export function createClient<S extends DescService>(
  service: S,
  address: string,
  creds: grpc.ChannelCredentials,
  options: TransportOptions = {},
): Client<S> {
  const channel = new grpc.Client(address, creds, toChannelOptions(options));
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    client[method.localName] = createClientMethod(channel, method);
  }
  channels.set(client, channel);
  return client as Client<S>;
}

/** Closes the client's channel; calls still running fail with CANCELLED or UNAVAILABLE. */
export function closeClient(client: object): void {
  channels.get(client)?.close();
}

const channelOptionKeys = {
  maxReceiveMessageBytes: "grpc.max_receive_message_length",
  maxSendMessageBytes: "grpc.max_send_message_length",
  keepaliveTimeMs: "grpc.keepalive_time_ms",
  keepaliveTimeoutMs: "grpc.keepalive_timeout_ms",
} as const;

function toChannelOptions(options: TransportOptions): grpc.ChannelOptions {
  const channelOptions: grpc.ChannelOptions = {};
  for (const [name, key] of Object.entries(channelOptionKeys)) {
    const value = options[name as keyof typeof channelOptionKeys];
    if (value !== undefined) channelOptions[key] = value;
  }
  return { ...channelOptions, ...options.channelOptions };
}

function createSerializer(schema: DescMessage): (value: unknown) => Buffer {
  return (value) => {
    const bytes = toBinary(schema, create(schema, value as MessageInitShape<DescMessage>));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function createDeserializer(schema: DescMessage): (bytes: Buffer) => unknown {
  return (bytes) => fromBinary(schema, bytes);
}

function toGrpcError(error: unknown): GrpcError {
  if (error instanceof GrpcError) return error;
  // A grpc-js ServiceError or status object; other errors may carry unrelated numeric codes.
  const { code, details } = (error ?? {}) as { code?: unknown; details?: unknown };
  const name = typeof code === "number" && typeof details === "string" ? grpc.status[code] : undefined;
  if (name !== undefined && name !== "OK") {
    return new GrpcError(name as GrpcCode, details as string, { cause: error });
  }
  return new GrpcError("INTERNAL", error instanceof Error ? error.message : String(error), { cause: error });
}

function toStatus(error: unknown): grpc.StatusObject {
  const { code, details } = toGrpcError(error);
  return { code: grpc.status[code], details, metadata: new grpc.Metadata() };
}

function toMetadata(record: Readonly<Record<string, string>> = {}): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(record)) metadata.set(key, value);
  return metadata;
}

// grpc-js surface streams, reduced to what reading and writing need.
type GrpcReadable = NodeJS.EventEmitter & { pause(): unknown; resume(): unknown };
type GrpcWritable = NodeJS.EventEmitter & {
  write(chunk: unknown, callback: (error?: Error | null) => void): boolean;
};

const maxBufferedMessages = 16;

/**
 * Pull-based reading of a grpc-js stream: buffers up to maxBufferedMessages, then pauses the
 * stream so HTTP/2 flow control pushes back on the sender.
 */
class MessageQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffered: T[] = [];
  private waiter: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void } | undefined;
  private outcome: { error: GrpcError | undefined } | undefined;
  private paused = false;
  private readonly stream: GrpcReadable;
  private readonly onAbandon: () => void;

  constructor(stream: GrpcReadable, onAbandon: () => void) {
    this.stream = stream;
    this.onAbandon = onAbandon;
    stream.on("data", (message: T) => this.push(message));
  }

  push(message: T): void {
    if (this.outcome !== undefined) return;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      waiter.resolve({ value: message, done: false });
      return;
    }
    this.buffered.push(message);
    if (this.buffered.length >= maxBufferedMessages && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
  }

  /** No more messages after the buffered ones; `error` is thrown once those are read. */
  finish(error?: GrpcError): void {
    if (this.outcome !== undefined) return;
    this.outcome = { error };
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter === undefined) return;
    if (error !== undefined) waiter.reject(error);
    else waiter.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    const message = this.buffered.shift();
    if (message !== undefined) {
      if (this.paused && this.buffered.length <= maxBufferedMessages / 2) {
        this.paused = false;
        this.stream.resume();
      }
      return Promise.resolve({ value: message, done: false });
    }
    if (this.outcome?.error !== undefined) return Promise.reject(this.outcome.error);
    if (this.outcome !== undefined) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    if (this.outcome === undefined) {
      this.finish();
      this.onAbandon();
    }
    this.buffered.length = 0;
    // Let whatever still arrives drain (and be dropped) instead of stalling the sender.
    if (this.paused) {
      this.paused = false;
      this.stream.resume();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Promise-returning writes on a grpc-js stream. grpc-js drops the write callback of a call that
 * has ended, so `close` settles every write still waiting.
 */
function createWriter(stream: GrpcWritable) {
  const pending = new Set<(error: GrpcError) => void>();
  let closedWith: GrpcError | undefined;
  return {
    write(message: unknown): Promise<void> {
      if (closedWith !== undefined) return Promise.reject(closedWith);
      return new Promise<void>((resolve, reject) => {
        const fail = (error: GrpcError) => {
          pending.delete(fail);
          reject(error);
        };
        pending.add(fail);
        stream.write(message, (error) => {
          if (!pending.delete(fail)) return;
          if (error) reject(toGrpcError(error));
          else resolve();
        });
      });
    },
    close(error: GrpcError): void {
      closedWith ??= error;
      for (const fail of pending) fail(error);
    },
  };
}

function createClientMethod(channel: grpc.Client, method: DescMethod): unknown {
  const path = `/${method.parent.typeName}/${method.name}`;
  const serialize = createSerializer(method.input);
  const deserialize = createDeserializer(method.output);
  const toCallOptions = (options: CallOptions): grpc.CallOptions =>
    options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };

  // Ties a call to options.signal; returns the function that unties it.
  const followSignal = (call: { cancel(): void }, signal: AbortSignal | undefined): (() => void) => {
    if (signal === undefined) return () => {};
    const onAbort = () => call.cancel();
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    return () => signal.removeEventListener("abort", onAbort);
  };

  // Reads responses until the status arrives; a non-OK status is thrown after the last message.
  const readResponses = (call: grpc.ClientReadableStream<unknown>, onEnd: (error?: GrpcError) => void) => {
    let statusError: GrpcError | undefined;
    const queue = new MessageQueue<unknown>(call, () => call.cancel());
    call.on("error", (error: unknown) => {
      statusError = toGrpcError(error);
    });
    call.on("status", (status: grpc.StatusObject) => {
      // grpc-js emits "error" before "status" for a non-OK status.
      onEnd(status.code === grpc.status.OK ? undefined : statusError);
    });
    call.on("end", () => queue.finish(statusError));
    return queue;
  };

  switch (method.methodKind) {
    case "unary":
      return (request: unknown, options: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          let unfollow = () => {};
          const call = channel.makeUnaryRequest(
            path,
            serialize,
            deserialize,
            request,
            toMetadata(options.metadata),
            toCallOptions(options),
            (error, response) => {
              unfollow();
              if (error) reject(toGrpcError(error));
              else resolve(response);
            },
          );
          unfollow = followSignal(call, options.signal);
        });
    case "server_streaming":
      return (request: unknown, options: CallOptions = {}): AsyncIterable<unknown> => ({
        [Symbol.asyncIterator]() {
          const call = channel.makeServerStreamRequest(
            path,
            serialize,
            deserialize,
            request,
            toMetadata(options.metadata),
            toCallOptions(options),
          );
          const unfollow = followSignal(call, options.signal);
          return readResponses(call, unfollow);
        },
      });
    case "bidi_streaming":
      return (options: CallOptions = {}): BidiStream<DescMessage, DescMessage> => {
        const call = channel.makeBidiStreamRequest(
          path,
          serialize,
          deserialize,
          toMetadata(options.metadata),
          toCallOptions(options),
        );
        const writer = createWriter(call);
        const unfollow = followSignal(call, options.signal);
        const responses = readResponses(call, (error) => {
          unfollow();
          writer.close(error ?? new GrpcError("UNAVAILABLE", "the server ended the stream"));
        });
        let ended = false;
        return {
          send(message) {
            if (ended) return Promise.reject(new Error(`${method.name}: send after end()`));
            return writer.write(message);
          },
          end() {
            ended = true;
            call.end();
          },
          cancel: () => call.cancel(),
          [Symbol.asyncIterator]: () => responses as AsyncIterator<MessageShape<DescMessage>>,
        };
      };
    default:
      throw new Error(
        `${method.parent.typeName}.${method.name}: ${method.methodKind} methods are not supported`,
      );
  }
}

type AnyHandler = (input: unknown, context: HandlerContext) => unknown;
interface GrpcServerCall {
  readonly metadata: grpc.Metadata;
  getPeer(): string;
  getDeadline(): grpc.Deadline;
  once(event: "cancelled", listener: () => void): unknown;
  emit(event: "error", status: grpc.StatusObject): boolean;
}

function createHandlerContext(call: GrpcServerCall): HandlerContext {
  const controller = new AbortController();
  // grpc-js emits "cancelled" whenever a call ends for any reason, including a status we sent.
  call.once("cancelled", () => {
    const deadline = call.getDeadline();
    const expired = deadline instanceof Date ? deadline.getTime() <= Date.now() : deadline <= Date.now();
    controller.abort(
      expired
        ? new GrpcError("DEADLINE_EXCEEDED", "deadline exceeded")
        : new GrpcError("CANCELLED", "call ended"),
    );
  });
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(call.metadata.getMap())) {
    if (typeof value === "string") metadata[key] = value;
  }
  return { signal: controller.signal, metadata, peer: call.getPeer() };
}

function callEnded(context: HandlerContext): GrpcError {
  return context.signal.reason instanceof GrpcError
    ? context.signal.reason
    : new GrpcError("CANCELLED", "call ended");
}

// Sends a non-OK status on a streaming call, unless the call has ended already.
function endWithError(call: GrpcServerCall, context: HandlerContext, error: unknown): void {
  if (context.signal.aborted) return;
  // grpc-js turns an "error" event on its server streams into the call's status.
  call.emit("error", toStatus(error));
}

function createGrpcHandler(method: DescMethod, handler: AnyHandler): grpc.UntypedHandleCall {
  switch (method.methodKind) {
    case "unary":
      return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const context = createHandlerContext(call);
        void (async () => {
          try {
            callback(null, await handler(call.request, context));
          } catch (error) {
            callback(toStatus(error));
          }
        })();
      };
    case "server_streaming":
      return (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const context = createHandlerContext(call);
        const writer = createWriter(call);
        context.signal.addEventListener("abort", () => writer.close(callEnded(context)), { once: true });
        void (async () => {
          try {
            for await (const message of handler(call.request, context) as AsyncIterable<unknown>) {
              await writer.write(message);
            }
            call.end();
          } catch (error) {
            endWithError(call, context, error);
          }
        })();
      };
    case "bidi_streaming":
      return (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        const context = createHandlerContext(call);
        const writer = createWriter(call);
        const requests = new MessageQueue<unknown>(call, () => {});
        // On a client cancel, grpc-js reports the half-close that Node's HTTP/2 stream emits first
        // and "cancelled" a few ticks later; wait those out so the handler sees CANCELLED.
        call.on("end", () => setImmediate(() => requests.finish()));
        context.signal.addEventListener(
          "abort",
          () => {
            requests.finish(callEnded(context));
            writer.close(callEnded(context));
          },
          { once: true },
        );
        const stream: ServerBidiStream<DescMessage, DescMessage> = {
          send: (message) => writer.write(message),
          [Symbol.asyncIterator]: () => requests as AsyncIterator<MessageShape<DescMessage>>,
        };
        void (async () => {
          try {
            await handler(stream, context);
            call.end();
          } catch (error) {
            endWithError(call, context, error);
          }
        })();
      };
    default:
      throw new Error(
        `${method.parent.typeName}.${method.name}: ${method.methodKind} methods are not supported`,
      );
  }
}
