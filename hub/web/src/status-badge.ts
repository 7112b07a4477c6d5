/** Coloured badges for health, sync and connection, with the name as text (never colour alone). */
import { el } from "./elements.js";
import {
  type Connection,
  connectionClass,
  connectionOf,
  type Health,
  healthClass,
  healthOf,
  type Sync,
  syncClass,
  syncOf,
} from "./status-names.js";

export function healthBadge(value: string | undefined): HTMLSpanElement {
  const health: Health = healthOf(value);
  return el("span", { class: `badge ${healthClass(health)}` }, health);
}

export function syncBadge(value: string | undefined): HTMLSpanElement {
  const sync: Sync = syncOf(value);
  return el("span", { class: `badge ${syncClass(sync)}` }, sync);
}

export function connectionBadge(value: string | undefined): HTMLSpanElement {
  const connection: Connection = connectionOf(value);
  return el("span", { class: `badge ${connectionClass(connection)}` }, connection);
}
