// The error a Go template fails with, in parsing or execution.

export type TemplateErrorReason = "parse" | "exec" | "limit" | "unsupported";

/** A template that failed to parse or execute; `functionName` names an undefined or refused function. */
export class TemplateError extends Error {
  constructor(
    message: string,
    readonly reason: TemplateErrorReason,
    readonly functionName?: string,
  ) {
    super(message);
    this.name = "TemplateError";
  }
}
