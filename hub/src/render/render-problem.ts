/**
 * Why one source did not render. The kinds are a subset of the resolver's problem kinds
 * (../resolve/problem.ts): `render` a tool or a manifest failed, `unsupported` needs something
 * Flotilla does not run, `invalid` the source or an object is malformed, `limit` a size, alias
 * or time limit was hit.
 */
export type RenderProblem = {
  kind: "render" | "unsupported" | "invalid" | "limit";
  message: string;
};

/**
 * Thrown inside the render steps and turned into a `RenderProblem` by `renderSource`, so a
 * helper deep in path resolution can stop the render with a precise kind and message.
 */
export class RenderProblemError extends Error {
  readonly kind: RenderProblem["kind"];
  /** False when the same input may render next time (a timeout), so caches must not keep it. */
  readonly cacheable: boolean;

  constructor(
    kind: RenderProblem["kind"],
    message: string,
    options?: { cause?: unknown; cacheable?: boolean },
  ) {
    super(message, { cause: options?.cause });
    this.name = "RenderProblemError";
    this.kind = kind;
    this.cacheable = options?.cacheable ?? true;
  }
}
