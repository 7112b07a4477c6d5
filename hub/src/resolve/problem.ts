/**
 * Something wrong with one app. Problems are values: the resolver attaches them to the app that
 * has them and carries on with every other app.
 * - cycle: an app-of-apps loop (the message names the path that closes it)
 * - duplicate: two apps of one name
 * - destination: no such cluster, an ambiguous one, or both/neither of name and server
 * - render: a tool or a manifest failed (the message names the file and the cause)
 * - unsupported: needs something Flotilla does not run (config management plugins, chart repositories)
 * - invalid: schema errors and missing fields
 * - limit: a depth, size or count limit was hit
 * - source: the repository cannot be read, or is not allowed (neither configured nor mapped)
 */
export type ProblemKind =
  | "cycle"
  | "duplicate"
  | "destination"
  | "render"
  | "unsupported"
  | "invalid"
  | "limit"
  | "source";

export type Problem = {
  app: string;
  kind: ProblemKind;
  message: string;
};
