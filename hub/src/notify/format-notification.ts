/**
 * What a webhook receives: the generic JSON document, or a Slack incoming-webhook message
 * (`text` plus `blocks`, which Mattermost and Rocket.Chat accept too). Both are built from one
 * Notice; docs/notifications.md shows examples.
 */
import type { Labels } from "../fleet/label-selector.js";
import type { NotificationFormat, Trigger } from "./notification-config.js";

/** One condition of one app or cluster, as a notification reports it. */
export type Notice = {
  trigger: Trigger;
  cluster: string;
  clusterLabels: Labels;
  /** null for cluster-disconnected. */
  app: string | null;
  /** The app's health and sync status when known; null for a cluster. */
  health: string | null;
  sync: string | null;
  /** Why: the health message, the sync's error, or how long the cluster was silent. */
  message: string;
  /** The commit the app runs or tried to sync; null when unknown. */
  revision: string | null;
  /** When the condition was recorded (ISO 8601); for a reminder, when it was found still present. */
  at: string;
  /** The id of the event that raised the condition. */
  eventId: number;
  /** Sent again because the condition lasted `repeatAfter`. */
  reminder: boolean;
};

/** One line for people and the event history: `web on prod-1 is Degraded`. */
export function summarizeNotice(notice: Notice): string {
  const still = notice.reminder ? "still " : "";
  switch (notice.trigger) {
    case "app-degraded":
      return `${notice.app} on ${notice.cluster} is ${still}Degraded`;
    case "sync-failed":
      return notice.reminder
        ? `sync of ${notice.app} on ${notice.cluster} is still failing`
        : `sync of ${notice.app} on ${notice.cluster} failed`;
    case "cluster-disconnected":
      return `cluster ${notice.cluster} is ${still}disconnected`;
  }
}

/** The request body for a target of `format`; `hubUrl` ("" when unknown) makes the links. */
export function formatNotification(
  format: NotificationFormat,
  notice: Notice,
  hubUrl: string,
): Record<string, unknown> {
  return format === "slack" ? formatSlack(notice, hubUrl) : formatJson(notice, hubUrl);
}

function formatJson(notice: Notice, hubUrl: string): Record<string, unknown> {
  return {
    trigger: notice.trigger,
    cluster: notice.cluster,
    clusterLabels: notice.clusterLabels,
    app: notice.app,
    health: notice.health,
    sync: notice.sync,
    message: notice.message,
    revision: notice.revision,
    at: notice.at,
    hub: hubUrl,
    eventId: notice.eventId,
    reminder: notice.reminder,
  };
}

const EMOJI: Record<Trigger, string> = {
  "app-degraded": ":red_circle:",
  "sync-failed": ":x:",
  "cluster-disconnected": ":electric_plug:",
};

function formatSlack(notice: Notice, hubUrl: string): Record<string, unknown> {
  const app = `*${escapeMrkdwn(notice.app ?? "")}*`;
  const cluster = `*${escapeMrkdwn(notice.cluster)}*`;
  const still = notice.reminder ? "still " : "";
  const headline = {
    "app-degraded": `${app} on ${cluster} is ${still}Degraded`,
    "sync-failed": notice.reminder
      ? `Sync of ${app} on ${cluster} is still failing`
      : `Sync of ${app} on ${cluster} failed`,
    "cluster-disconnected": `Cluster ${cluster} is ${still}disconnected`,
  }[notice.trigger];
  const why = notice.message ? `: ${escapeMrkdwn(notice.message)}` : "";
  const line = `${EMOJI[notice.trigger]} ${headline}${why}`;
  const path =
    notice.app === null
      ? `#/clusters/${encodeURIComponent(notice.cluster)}`
      : `#/apps/${encodeURIComponent(notice.app)}`;
  const link = hubUrl ? `<${hubUrl}/${path}|Open in Flotilla>` : "";
  const context = [
    notice.revision ? `revision \`${escapeMrkdwn(notice.revision.slice(0, 12))}\`` : "",
    `event ${notice.eventId}`,
    link,
  ].filter(Boolean);
  return {
    text: link ? `${line}\n${link}` : line,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: line } },
      { type: "context", elements: [{ type: "mrkdwn", text: context.join(" · ") }] },
    ],
  };
}

/** Slack's mrkdwn control characters, escaped as its docs ask, so a message cannot forge a link. */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
