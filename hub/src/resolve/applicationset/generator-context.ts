// What every generator needs: the registered clusters, a way to read Git, the template engine, the
// limits, and the error type whose kind becomes the Problem's kind.

import type { Cluster } from "../cluster.js";
import type { ProblemKind } from "../problem.js";
import { DEFAULT_TEMPLATE_LIMITS, type TemplateLimits } from "./go-template.js";
import type { TemplateEngine } from "./render-template.js";
import { TemplateError } from "./template-error.js";

/**
 * Reads a repository at a revision for the git generator. `revision` is the generator's as
 * written ("" means HEAD); paths are relative to the repository root, "/"-separated, without a
 * leading "./". A thrown error whose `reason` is "limit" becomes a `limit` problem, any other a
 * `source` problem.
 */
export type GitReader = {
  /** Every directory (the generator skips the root and hidden directories itself). */
  listDirectories(repoURL: string, revision: string): Promise<string[]>;
  /** Every file. */
  listFiles(repoURL: string, revision: string): Promise<string[]>;
  /** A file's content; undefined when it does not exist. */
  readFile(repoURL: string, revision: string, path: string): Promise<Uint8Array | string | undefined>;
};

export type ApplicationSetLimits = TemplateLimits & {
  /** Applications one ApplicationSet may produce. */
  maxApplications: number;
  /** Param sets one generator may produce, a matrix's product included. */
  maxParamSets: number;
  /** Size of one git generator `files` entry, in bytes. */
  maxParamFileBytes: number;
};

export const DEFAULT_APPLICATIONSET_LIMITS: ApplicationSetLimits = {
  ...DEFAULT_TEMPLATE_LIMITS,
  maxApplications: 100_000,
  maxParamSets: 100_000,
  maxParamFileBytes: 1024 * 1024,
};

export type GeneratorContext = {
  clusters: readonly Cluster[];
  git: GitReader;
  engine: TemplateEngine;
  limits: ApplicationSetLimits;
  /** See GenerateContext.addImplicitInCluster. */
  addImplicitInCluster: boolean;
};

export type GeneratorErrorKind = Extract<ProblemKind, "invalid" | "limit" | "source" | "unsupported">;

/** A generator that cannot produce its params; `kind` is the problem kind it becomes. */
export class GeneratorError extends Error {
  constructor(
    message: string,
    readonly kind: GeneratorErrorKind,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "GeneratorError";
  }
}

/** The problem kind of any error a template or reader threw. */
export function classifyError(error: unknown): GeneratorErrorKind {
  if (error instanceof GeneratorError) return error.kind;
  if (error instanceof TemplateError) {
    if (error.reason === "limit") return "limit";
    if (error.reason === "unsupported") return "unsupported";
    return "invalid";
  }
  return "invalid";
}

/** Wraps an error with context, keeping its problem kind. */
export function wrapError(context: string, error: unknown): GeneratorError {
  const message = error instanceof Error ? error.message : String(error);
  return new GeneratorError(`${context}: ${message}`, classifyError(error), { cause: error });
}
