/**
 * Every progressive rollout (docs/rollouts.md), one panel each: its phase (coloured), the current
 * step, the bake countdown while the step bakes (and the rollout progresses), members by state, the clusters still waiting
 * and the failures with their resources. An admin token also gets Pause, Resume, Abort and
 * Promote, which POST to /api/v1/rollouts/NAME/ACTION and reload.
 *
 * Reloads like the other pages on live changes (debounced), and also every POLL_MS: a rollout
 * moves on when a bake ends, which no watch message announces. A reload that brings the same
 * JSON leaves the page alone (no lost focus); the countdown ticks every second in place.
 */
import type { RolloutActionJson, RolloutListJson, RolloutView } from "./api-types.js";
import { type Child, el, listTable, replaceChildren } from "./elements.js";
import { formatDuration, formatTime, shortRevision } from "./format.js";
import type { LiveChange } from "./live-updates.js";
import { appHash, clusterHash } from "./router.js";
import { debounce, type View, type ViewContext } from "./view.js";

const POLL_MS = 5_000;
const TICK_MS = 1_000;

type Action = "pause" | "resume" | "abort" | "promote" | "promote-all";
type Phase = RolloutView["phase"];
type Counts = RolloutView["counts"];

const ACTIONS: readonly { action: Action; label: string; when: readonly Phase[]; confirm?: string }[] = [
  { action: "pause", label: "Pause", when: ["Progressing"] },
  { action: "resume", label: "Resume", when: ["Paused", "Failed", "RolledBack"] },
  { action: "promote", label: "Promote", when: ["Progressing", "Paused", "Failed", "RolledBack", "Aborted"] },
  {
    action: "promote-all",
    label: "Promote all steps",
    when: ["Progressing", "Paused", "Failed", "RolledBack", "Aborted"],
    confirm: "Release every remaining step of rollout {name} now, without waiting for their gates?",
  },
  {
    action: "abort",
    label: "Abort",
    when: ["Progressing", "Paused", "Failed", "RolledBack"],
    confirm: "Abort rollout {name}? Every released member goes back to its last good state.",
  },
];

const COUNT_LABELS: readonly [keyof Counts, string][] = [
  ["updated", "updated"],
  ["updating", "updating"],
  ["waiting", "waiting"],
  ["failed", "failed"],
  ["rolledBack", "rolled back"],
  ["skipped", "skipped"],
];

/** What happened to the last action on a rollout, shown in its panel until the next one. */
type Outcome = { text: string; error: boolean };

export function createRolloutsView(context: ViewContext): View {
  const { api } = context;
  const list = el("div", { class: "rollout-list", id: "rollout-list" });
  const errorLine = el("p", { class: "error", role: "alert", id: "rollouts-error", hidden: true });
  const element = el(
    "section",
    { class: "page rollouts-page", "aria-busy": "true" },
    el("header", { class: "page-head" }, el("h1", {}, "Rollouts")),
    errorLine,
    list,
  );
  context.setTitle("Rollouts");
  replaceChildren(list, el("p", { class: "muted" }, "Loading…"));

  let generation = 0;
  let destroyed = false;
  let shown = "";
  let current: RolloutListJson = { rollouts: [], canControl: false };
  const busy = new Set<string>();
  const outcomes = new Map<string, Outcome>();

  const reloadSoon = debounce(() => void load(), 700);
  const poll = setInterval(() => {
    if (!document.hidden) void load();
  }, POLL_MS);
  const tick = setInterval(updateCountdowns, TICK_MS);
  void load();

  async function load(): Promise<void> {
    const mine = ++generation;
    try {
      const answer = await api.get<RolloutListJson>("/api/v1/rollouts");
      if (mine !== generation || destroyed) return;
      errorLine.hidden = true;
      current = answer;
      const text = JSON.stringify(answer);
      if (text !== shown) {
        shown = text;
        render();
      }
    } catch (error) {
      if (mine !== generation || destroyed) return;
      errorLine.textContent = error instanceof Error ? error.message : String(error);
      errorLine.hidden = false;
    } finally {
      if (mine === generation) element.removeAttribute("aria-busy");
    }
  }

  function render(): void {
    if (current.rollouts.length === 0) {
      replaceChildren(
        list,
        el(
          "p",
          { class: "empty", id: "rollouts-empty" },
          "No rollouts. Declare one in Git (an ApplicationSet with strategy RollingSync, or a Rollout) to roll new revisions out step by step.",
        ),
      );
      return;
    }
    replaceChildren(
      list,
      current.rollouts.map((rollout) => rolloutPanel(rollout)),
    );
    updateCountdowns();
  }

  function rolloutPanel(rollout: RolloutView): HTMLElement {
    const id = `rollout-${rollout.name.replace(/[^a-zA-Z0-9_-]/g, "_")}`;
    const outcome = outcomes.get(rollout.name);
    return el(
      "section",
      { class: "panel rollout", "data-rollout": rollout.name, "aria-labelledby": id },
      el(
        "header",
        { class: "rollout-head" },
        el("h2", { id }, rollout.name),
        el(
          "span",
          { class: `badge phase phase-${rollout.phase.toLowerCase()}`, "data-field": "phase" },
          rollout.phase,
        ),
        el("span", { class: "rollout-step", "data-field": "step" }, stepText(rollout)),
        // A bake only runs while the rollout progresses (a paused one does not pass its gate).
        rollout.bakeEndsAt && rollout.phase === "Progressing"
          ? el("span", {
              class: "rollout-bake",
              "data-field": "bake",
              "data-ends": rollout.bakeEndsAt,
              title: `bake ends at ${formatTime(rollout.bakeEndsAt)}`,
            })
          : null,
        el("span", { class: "spacer" }),
        current.canControl ? actionButtons(rollout) : null,
      ),
      outcome
        ? el(
            "p",
            { class: outcome.error ? "error" : "rollout-outcome", role: "status", "data-field": "outcome" },
            outcome.text,
          )
        : null,
      rollout.message
        ? el("p", { class: "rollout-message", "data-field": "message" }, rollout.message)
        : null,
      el(
        "div",
        { class: "summary", role: "group", "aria-label": `Members of ${rollout.name} by state` },
        COUNT_LABELS.map(([state, label]) =>
          el(
            "span",
            {
              class: `chip member-${state}${rollout.counts[state] === 0 ? " zero" : ""}`,
              "data-count": state,
            },
            el("span", { class: "chip-count" }, rollout.counts[state].toLocaleString()),
            ` ${label}`,
          ),
        ),
      ),
      el(
        "dl",
        { class: "details" },
        detail("Steps", stepsList(rollout)),
        detail(
          "Waiting",
          rollout.waitingClusters.length === 0
            ? "—"
            : el(
                "span",
                { class: "label-list", "data-field": "waiting" },
                rollout.waitingClusters.map((cluster) =>
                  el("a", { class: "label", href: clusterHash(cluster) }, cluster),
                ),
              ),
        ),
        detail(
          "Apps",
          el(
            "span",
            { class: "label-list" },
            rollout.apps.map((app) => el("a", { class: "label", href: appHash(app) }, app)),
          ),
        ),
        detail(
          "Revision",
          el("span", { class: "mono", title: rollout.commit }, shortRevision(rollout.commit)),
          ` (revision ${rollout.generation} of this rollout, started ${formatTime(rollout.startedAt)})`,
        ),
        detail("Declared by", `${rollout.origin} in app ${rollout.declaredBy}`),
      ),
      rollout.failures.length > 0 ? failuresTable(rollout) : null,
    );
  }

  function actionButtons(rollout: RolloutView): HTMLElement {
    const working = busy.has(rollout.name);
    return el(
      "span",
      { class: "rollout-actions", role: "group", "aria-label": `Control ${rollout.name}` },
      ACTIONS.map(({ action, label, when, confirm }) => {
        const button = el(
          "button",
          {
            type: "button",
            class: action === "abort" ? "small danger" : "small secondary",
            "data-action": action,
            disabled: working || !when.includes(rollout.phase),
          },
          label,
        );
        button.addEventListener("click", () => {
          if (confirm && !window.confirm(confirm.replace("{name}", rollout.name))) return;
          void act(rollout.name, action, label);
        });
        return button;
      }),
    );
  }

  async function act(name: string, action: Action, label: string): Promise<void> {
    busy.add(name);
    outcomes.set(name, { text: `${label}: asking the hub…`, error: false });
    shown = "";
    render();
    try {
      const path = `/api/v1/rollouts/${encodeURIComponent(name)}/${action === "promote-all" ? "promote" : action}`;
      const answer = await api.post<RolloutActionJson>(
        path,
        action === "promote-all" ? { all: true } : undefined,
      );
      outcomes.set(name, {
        text: answer.applied
          ? `${label}: done; the rollout is ${answer.rollout.phase}.`
          : `${label}: queued; the resolving hub carries it out when it next runs.`,
        error: false,
      });
    } catch (error) {
      outcomes.set(name, {
        text: `${label} failed: ${error instanceof Error ? error.message : String(error)}`,
        error: true,
      });
    } finally {
      busy.delete(name);
    }
    if (destroyed) return;
    shown = "";
    await load();
  }

  /** Sets each bake countdown from its end time and the clock. */
  function updateCountdowns(): void {
    const now = Date.now();
    for (const bake of list.querySelectorAll<HTMLElement>("[data-field=bake]")) {
      const ends = Date.parse(bake.dataset.ends ?? "");
      if (Number.isNaN(ends)) continue;
      bake.textContent =
        ends > now ? `baking, ${formatDuration(ends - now)} left` : "bake over; the next step starts shortly";
    }
  }

  return {
    element,
    update() {},
    handleChange(change: LiveChange) {
      // Members move as their agents report; any change may have moved a rollout.
      if (change.kind === "resync" || change.message.statusChanged || change.message.clusterChanged)
        reloadSoon();
    },
    destroy() {
      destroyed = true;
      generation += 1;
      reloadSoon.cancel();
      clearInterval(poll);
      clearInterval(tick);
    },
  };
}

/** "step 2/3 prod", or "all 3 steps passed" once past the last. */
function stepText(rollout: RolloutView): string {
  if (rollout.step > rollout.stepCount)
    return `all ${rollout.stepCount} ${rollout.stepCount === 1 ? "step" : "steps"} passed`;
  return `step ${rollout.step}/${rollout.stepCount} ${rollout.stepName}`;
}

function stepsList(rollout: RolloutView): HTMLElement {
  return el(
    "ol",
    { class: "rollout-steps" },
    rollout.steps.map((step) =>
      el(
        "li",
        { class: `step-${step.state}`, "data-step": step.index },
        el("span", { class: "step-name" }, step.name),
        ` · ${step.members} ${step.members === 1 ? "member" : "members"}`,
        ` · at most ${step.maxUnavailable} at once`,
        step.bakeTimeMs > 0 ? ` · bake ${formatDuration(step.bakeTimeMs)}` : "",
        el("span", { class: "muted" }, ` (${step.state})`),
      ),
    ),
  );
}

function failuresTable(rollout: RolloutView): HTMLElement {
  return listTable(
    { class: "list rollout-failures", "data-field": "failures" },
    ["Cluster", "App", "Why", "Resources not Healthy"],
    rollout.failures.map((failure) =>
      el(
        "tr",
        { "data-cluster": failure.cluster, "data-app": failure.app },
        el("th", { scope: "row" }, el("a", { href: clusterHash(failure.cluster) }, failure.cluster)),
        el("td", {}, el("a", { href: appHash(failure.app, failure.cluster) }, failure.app)),
        el("td", { class: "message" }, failure.message),
        el(
          "td",
          { class: "message" },
          failure.resources.length === 0
            ? "—"
            : el(
                "ul",
                { class: "plain" },
                failure.resources.map((resource) =>
                  el(
                    "li",
                    {},
                    el(
                      "span",
                      { class: "kind" },
                      `${resource.kind}/${resource.namespace ? `${resource.namespace}/` : ""}${resource.name}`,
                    ),
                    ` ${resource.health}${resource.message ? `: ${resource.message}` : ""}`,
                  ),
                ),
              ),
        ),
      ),
    ),
    el("caption", { class: "visually-hidden" }, `Failures of rollout ${rollout.name}`),
  );
}

function detail(term: string, ...value: Child[]): HTMLElement[] {
  return [el("dt", {}, term), el("dd", {}, ...value)];
}
