import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import type { CliIo } from "./command.js";

/** A table cell: plain text, or text with the colour it is shown in on a terminal. */
export type Cell = string | { text: string; colour: Colour };

export type Colour = "green" | "yellow" | "red" | "grey";

const ANSI: Record<Colour, string> = { green: "32", yellow: "33", red: "31", grey: "90" };

const textOf = (cell: Cell | undefined) => (typeof cell === "string" ? cell : (cell?.text ?? ""));

/** The width of each column: its widest cell or title, and at least `minWidths[c]`. */
export function columnWidths(
  header: readonly string[],
  rows: readonly (readonly Cell[])[],
  minWidths: readonly number[] = [],
): number[] {
  return header.map((title, c) =>
    Math.max(minWidths[c] ?? 0, title.length, ...rows.map((row) => textOf(row[c]).length)),
  );
}

/**
 * Rows as aligned columns, two spaces apart, header first; trailing spaces trimmed. Colour
 * codes are added after padding, so they never shift a column. A table printed in batches (a
 * stream) passes the widths so far as `minWidths`, and `omitHeader` after the first batch.
 */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly Cell[])[],
  colour: boolean,
  options: { minWidths?: readonly number[]; omitHeader?: boolean } = {},
): string {
  const widths = columnWidths(header, rows, options.minWidths);
  const lines = [...(options.omitHeader ? [] : [header]), ...rows].map((row) =>
    header
      .map((_, c) => {
        const cell = row[c];
        const padded = c === header.length - 1 ? textOf(cell) : textOf(cell).padEnd(widths[c] ?? 0);
        return colour && typeof cell === "object" && cell.text !== ""
          ? `\u001b[${ANSI[cell.colour]}m${cell.text}\u001b[0m${padded.slice(cell.text.length)}`
          : padded;
      })
      .join("  ")
      .trimEnd(),
  );
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

/** Colour on a terminal only, and never when NO_COLOR is set (https://no-color.org). */
export function useColour(io: CliIo): boolean {
  return io.isTty && !io.env.NO_COLOR;
}

/** `key=value` pairs sorted by key, comma-separated; "-" when there are none. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`);
  return pairs.length ? pairs.join(",") : "-";
}

/** One line: newlines and runs of whitespace become one space; longer than `maxChars` ends in "...". */
export function oneLine(text: string, maxChars = Number.POSITIVE_INFINITY): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > maxChars ? `${line.slice(0, Math.max(0, maxChars - 3))}...` : line;
}

/** A protobuf timestamp as an ISO string without milliseconds (`2025-06-01T12:00:00Z`); "-" when unset. */
export function formatTimestamp(timestamp: Timestamp | undefined): string {
  return timestamp
    ? timestampDate(timestamp)
        .toISOString()
        .replace(/\.\d{3}Z$/, "Z")
    : "-";
}
