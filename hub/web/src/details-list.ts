/** A definition list of facts about one thing: "Connection: Connected", "Last seen: 3 s ago". */
import { type Child, el } from "./elements.js";

export function detailsList(entries: [string, Child | Child[]][]): HTMLDListElement {
  return el(
    "dl",
    { class: "details" },
    entries.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value === "" ? "—" : value)]),
  );
}

/** A titled section of a page. */
export function section(title: string, id: string, ...children: (Child | Child[])[]): HTMLElement {
  return el("section", { class: "panel", "aria-labelledby": id }, el("h2", { id }, title), ...children);
}
