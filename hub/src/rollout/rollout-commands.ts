/**
 * What the API does for `flotilla rollout pause|resume|abort|promote`: queues the command for the
 * resolving replica (whichever replica took the call), then waits a little for it to be carried
 * out, so the caller usually sees its effect in the answer.
 */
import type { RolloutAction, Store } from "../store/store.js";
import type { RolloutState } from "./rollout-state.js";
import { type RolloutView, readRolloutState, viewRollout } from "./rollout-view.js";

export const ROLLOUT_ACTIONS: readonly RolloutAction[] = ["pause", "resume", "abort", "promote"];

export type RolloutActionOutcome =
  | { ok: true; applied: boolean; rollout: RolloutView }
  | { ok: false; reason: "not-found" | "invalid"; message: string };

const POLL_MS = 100;

/**
 * Validates the action, queues it, and polls the queue every 100 ms for up to `waitMs` (default
 * 10 s) until the resolving replica took it: then `applied` is true and the rollout is as the
 * store has it now. Otherwise (or once `signal` aborts) `applied` is false and the command stays
 * queued. Unknown actions, `all` without promote and unknown rollouts are outcomes, not throws.
 */
export async function requestRolloutAction(
  store: Store,
  request: { name: string; action: string; all: boolean; actor: string },
  waitMs = 10_000,
  signal?: AbortSignal,
): Promise<RolloutActionOutcome> {
  const action = request.action as RolloutAction;
  if (!ROLLOUT_ACTIONS.includes(action))
    return {
      ok: false,
      reason: "invalid",
      message: `rollout ${request.name}: unknown action "${request.action}"; one of ${ROLLOUT_ACTIONS.join(", ")}`,
    };
  if (request.all && action !== "promote")
    return {
      ok: false,
      reason: "invalid",
      message: `rollout ${request.name}: "all" goes with the promote action only`,
    };
  const record = await store.rollouts.get(request.name);
  const state = record ? readRolloutState(record.state) : undefined;
  if (!state) return { ok: false, reason: "not-found", message: `rollout ${request.name} does not exist` };
  const command = await store.rollouts.addCommand({
    rollout: request.name,
    action,
    all: request.all,
    actor: request.actor,
  });
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && !signal?.aborted) {
    const pending = await store.rollouts.listCommands();
    if (!pending.some((queued) => queued.id === command.id)) {
      const after = await store.rollouts.get(request.name);
      const now = after ? readRolloutState(after.state) : undefined;
      return { ok: true, applied: true, rollout: viewRollout(now ?? state) };
    }
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))),
    );
  }
  // Queued: the resolving replica carries it out when it next runs (it may be restarting).
  return { ok: true, applied: false, rollout: viewRollout(state) };
}

export type ListRolloutOptions = {
  /** Only the rollout of this name (none when it does not exist). */
  name?: string;
  /**
   * Only members, failures and waiting clusters of the clusters this accepts, counted over
   * those; a rollout with no such member is left out. For viewers limited to some clusters.
   */
  clusterVisible?: (cluster: string) => boolean;
};

/** Every rollout's view (or the one named), by name. Rows that are not a RolloutState are skipped. */
export async function listRolloutViews(
  store: Store,
  options: ListRolloutOptions = {},
): Promise<RolloutView[]> {
  const records =
    options.name === undefined
      ? await store.rollouts.list()
      : [await store.rollouts.get(options.name)].filter((record) => record !== undefined);
  const views: RolloutView[] = [];
  for (const record of records) {
    const stored = readRolloutState(record.state);
    const state = stored && options.clusterVisible ? narrowRollout(stored, options.clusterVisible) : stored;
    if (state) views.push(viewRollout(state));
  }
  return views.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The rollout as someone who sees only some clusters sees it; undefined when none of its members. */
function narrowRollout(state: RolloutState, visible: (cluster: string) => boolean): RolloutState | undefined {
  const members = state.members.filter((member) => visible(member.cluster));
  if (members.length === 0) return undefined;
  // The last transition's message may name clusters out of sight: then it is not shown.
  const hidden = state.members.filter((member) => !visible(member.cluster)).map((member) => member.cluster);
  const message = hidden.some((cluster) => state.message.includes(cluster)) ? "" : state.message;
  return {
    ...state,
    message,
    members,
    failures: state.failures.filter((failure) => visible(failure.cluster)),
  };
}
