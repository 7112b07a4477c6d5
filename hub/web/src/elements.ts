/**
 * Building DOM without a framework: `el("td", { class: "cell", title }, "text")`. Attribute values
 * and text always go through setAttribute and text nodes, never innerHTML, so data from the hub
 * (names, labels, messages) cannot inject markup.
 */

export type Attributes = Record<string, string | number | boolean | undefined | null>;
export type Child = Node | string | number | null | undefined | false;

/** A new element; attributes that are false, null or undefined are left out, `true` sets "". */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent: Element, ...children: (Child | Child[])[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A table with a header row of column titles, then `rows` in its body (and an optional caption). */
export function listTable(
  attributes: Attributes,
  titles: readonly string[],
  rows: Child | Child[],
  caption?: Child,
): HTMLTableElement {
  return el(
    "table",
    attributes,
    caption,
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        titles.map((title) => el("th", { scope: "col" }, title)),
      ),
    ),
    el("tbody", {}, rows),
  );
}
