/**
 * The rollout controller (docs/rollouts.md), run by the replica that resolves:
 *
 * - `gate` is called by applyResolutions with the desired state a resolve wants for every
 *   cluster, before it is stored. For each declared rollout it finds the members (one app in one
 *   cluster), starts a new revision when a member's wanted desired state changed, and replaces
 *   the wanted state of every member that is not released with what the member runs now, so a
 *   new revision reaches no cluster before its step.
 * - `advance` runs every resolver tick: it carries out queued commands, reads the members'
 *   statuses, fails a step whose released members turn Degraded or miss the progress deadline
 *   (rolling them back when asked), releases members of the current step up to maxUnavailable,
 *   passes the step once its members stayed Synced and Healthy for the bake time, and writes the
 *   desired state of the members it released or rolled back.
 *
 * All state lives in store.rollouts (RolloutState), so a restarted or new leader carries on.
 */
import type { Bus } from "../bus/bus.js";
import type { Logger } from "../server/hub-runtime.js";
import type { Cluster, RolloutCommand, Store, Target, TargetInput } from "../store/store.js";
import { matchesSelector } from "./read-rollout.js";
import type { RolloutDeclaration } from "./rollout-spec.js";
import type {
  FailedResource,
  MemberTarget,
  RolloutFailure,
  RolloutMember,
  RolloutPhase,
  RolloutState,
} from "./rollout-state.js";
import { countMembers, readRolloutState } from "./rollout-view.js";

export type RolloutControllerDeps = { store: Store; bus: Bus; log: Logger; now: () => Date };

/** What one resolve declared, per source that resolved. */
export type DeclaredRollouts = {
  sourceId: string;
  declarations: readonly RolloutDeclaration[];
  /** Apps that failed to resolve: a rollout they declared is unknown this time, not gone. */
  problemApps?: ReadonlySet<string>;
  /** The resolve's problems: an invalid declaration is kept as it last was, not dropped. */
  problems?: readonly { app: string; message: string }[];
}[];

export type RolloutController = {
  /**
   * Holds back members that are not released: replaces their entries of `next` (cluster id ->
   * app -> wanted desired state) with what they run now, or drops them when they run nothing yet.
   * `failedSources`: sources that did not resolve; their rollouts are kept as they are.
   */
  gate(input: {
    declared: DeclaredRollouts;
    failedSources: ReadonlySet<string>;
    clusters: readonly Cluster[];
    next: Map<string, Map<string, TargetInput>>;
  }): Promise<void>;
  /** One step of every rollout's state machine; see the module comment. */
  advance(): Promise<void>;
};

/**
 * Stored with the state: which source declared the rollout, and its apps' labels (for a
 * declaration kept while it cannot be read).
 */
type StoredState = RolloutState & { sourceId: string; appLabels?: Record<string, Record<string, string>> };

const HEALTHY = "Healthy";
const SYNCED = "Synced";
const FAILED_HEALTH = new Set(["Degraded", "Missing"]);
const TERMINAL: ReadonlySet<RolloutPhase> = new Set(["Completed", "Aborted"]);

const memberKey = (clusterId: string, app: string) => `${clusterId}\u0000${app}`;

function toMemberTarget(input: TargetInput | Target): MemberTarget {
  return { digest: input.digest, bundleDigest: input.bundleDigest, desired: input.desired };
}

function toInput(app: string, target: MemberTarget): TargetInput {
  return { app, digest: target.digest, bundleDigest: target.bundleDigest, desired: target.desired };
}

/** The member's step: the first that selects it, else `steps.length` (after the last step). */
export function stepOf(
  declaration: Pick<RolloutDeclaration, "steps" | "appLabels">,
  app: string,
  clusterLabels: Readonly<Record<string, string>>,
): number {
  const index = declaration.steps.findIndex((step) =>
    "apps" in step.selector
      ? matchesSelector(step.selector.apps, declaration.appLabels[app] ?? {})
      : matchesSelector(step.selector.clusters, clusterLabels),
  );
  return index < 0 ? declaration.steps.length : index;
}

/** How many members of a step of `size` may be updating at once. */
export function allowedUpdating(
  declaration: Pick<RolloutDeclaration, "steps">,
  step: number,
  size: number,
): number {
  const max = declaration.steps[step]?.maxUnavailable;
  if (!max) return size;
  if ("count" in max) return max.count;
  if (max.percent === 0) return 0;
  return Math.max(1, Math.floor((size * max.percent) / 100));
}

function stepCountOf(
  declaration: Pick<RolloutDeclaration, "steps">,
  members: readonly RolloutMember[],
): number {
  const implicit = members.some((member) => member.step === declaration.steps.length);
  return declaration.steps.length + (implicit ? 1 : 0);
}

function stepLabel(state: RolloutState, step = state.step): string {
  const name = state.declaration.steps[step]?.name ?? "after the last step";
  return `step ${step + 1}/${state.stepCount} (${name})`;
}

export function createRolloutController(deps: RolloutControllerDeps): RolloutController {
  const { store, bus, log, now } = deps;

  async function loadStates(): Promise<Map<string, StoredState>> {
    const states = new Map<string, StoredState>();
    for (const record of await store.rollouts.list()) {
      const state = readRolloutState(record.state) as StoredState | undefined;
      if (state) states.set(record.name, state);
    }
    return states;
  }

  async function save(state: StoredState): Promise<void> {
    state.updatedAt = now().toISOString();
    await store.rollouts.put(state.name, state as unknown as Record<string, unknown>);
  }

  async function record(state: RolloutState, message: string, data: Record<string, unknown> = {}) {
    state.message = message;
    await store.events.append({
      type: "rollout",
      message: `rollout ${state.name}: ${message}`,
      data: {
        rollout: state.name,
        phase: state.phase,
        step: state.step + 1,
        stepCount: state.stepCount,
        generation: state.generation,
        commit: state.commit,
        ...data,
      },
    });
    log("info", "rollout", { rollout: state.name, phase: state.phase, message });
  }

  /** Every current target of these clusters, by cluster id and app (pending removals left out). */
  async function currentTargets(clusterIds: Iterable<string>): Promise<Map<string, Map<string, Target>>> {
    const out = new Map<string, Map<string, Target>>();
    for (const id of clusterIds) {
      const apps = new Map<string, Target>();
      for (const target of await store.targets.list(id)) if (!target.removed) apps.set(target.app, target);
      out.set(id, apps);
    }
    return out;
  }

  async function gate(input: Parameters<RolloutController["gate"]>[0]): Promise<void> {
    const { declared, failedSources, clusters, next } = input;
    const states = await loadStates();
    if (states.size === 0 && declared.every((source) => source.declarations.length === 0)) return;
    const declaredNames = new Set<string>();
    for (const source of declared) {
      const { sourceId } = source;
      const declarations = [...source.declarations, ...unreadable(source, states)];
      for (const declaration of declarations) {
        if (declaredNames.has(declaration.name)) continue; // The resolver reports duplicates as problems.
        declaredNames.add(declaration.name);
        const members: { cluster: Cluster; input: TargetInput }[] = [];
        for (const cluster of clusters) {
          const apps = next.get(cluster.id);
          if (!apps) continue;
          for (const app of declaration.apps) {
            const wanted = apps.get(app);
            if (wanted) members.push({ cluster, input: wanted });
          }
        }
        const current = await currentTargets(new Set(members.map((member) => member.cluster.id)));
        const state = reconcileState(states.get(declaration.name), sourceId, declaration, members, current);
        for (const member of state.members) {
          const apps = next.get(member.clusterId);
          if (!apps || member.releasedAt) continue;
          const running = current.get(member.clusterId)?.get(member.app);
          if (running) apps.set(member.app, toInput(member.app, toMemberTarget(running)));
          else apps.delete(member.app);
        }
        await save(state);
      }
    }
    // Rollouts no longer declared by a source that resolved are gone; a failed source keeps its own.
    for (const [name, state] of states) {
      if (declaredNames.has(name) || failedSources.has(state.sourceId)) continue;
      await store.rollouts.remove(name);
      log("info", "rollout no longer declared; removed", { rollout: name });
    }
  }

  /**
   * Stored rollouts of this source whose declaration could not be read this time (invalid, or
   * its declaring app failed): they go on with their last valid declaration, so a broken edit
   * never lets a revision through every step at once.
   */
  function unreadable(
    source: DeclaredRollouts[number],
    states: Map<string, StoredState>,
  ): RolloutDeclaration[] {
    const kept: RolloutDeclaration[] = [];
    const names = new Set(source.declarations.map((declaration) => declaration.name));
    for (const state of states.values()) {
      if (state.sourceId !== source.sourceId || names.has(state.name)) continue;
      const { declaredBy } = state.declaration;
      const prefixes = [`ApplicationSet ${state.name}:`, `Rollout ${state.name}:`];
      const failed =
        source.problemApps?.has(declaredBy) === true ||
        (source.problems ?? []).some(
          (problem) =>
            problem.app === declaredBy && prefixes.some((prefix) => problem.message.startsWith(prefix)),
        );
      if (!failed) continue;
      log("warn", "rollout declaration could not be read; its last valid one stays in force", {
        rollout: state.name,
        declaredBy,
      });
      kept.push({ ...state.declaration, appLabels: state.appLabels ?? {} });
    }
    return kept;
  }

  /**
   * The rollout's state for this resolve: the same revision with members added or gone, or a new
   * revision from step 1 when a member's wanted desired state changed.
   */
  function reconcileState(
    before: StoredState | undefined,
    sourceId: string,
    declaration: RolloutDeclaration,
    members: { cluster: Cluster; input: TargetInput }[],
    current: Map<string, Map<string, Target>>,
  ): StoredState {
    const at = now().toISOString();
    const { appLabels: _appLabels, ...spec } = declaration;
    const previous = new Map(
      (before?.members ?? []).map((member) => [memberKey(member.clusterId, member.app), member]),
    );
    const changed =
      before === undefined ||
      members.some(({ cluster, input }) => {
        const known = previous.get(memberKey(cluster.id, input.app));
        return known !== undefined && known.wanted.digest !== input.digest;
      });
    if (!changed && before) {
      // Same revision: new members join where their step is, gone ones leave.
      const completed = before.phase === "Completed";
      before.members = members.map(({ cluster, input }) => {
        const known = previous.get(memberKey(cluster.id, input.app));
        const step = stepOf(declaration, input.app, cluster.labels);
        if (known) return { ...known, cluster: cluster.name, step, wanted: toMemberTarget(input) };
        const running = current.get(cluster.id)?.get(input.app);
        const upToDate = running?.digest === input.digest;
        const passedStep = completed || step < before.step;
        return {
          clusterId: cluster.id,
          cluster: cluster.name,
          app: input.app,
          step,
          wanted: toMemberTarget(input),
          ...(running ? { stable: toMemberTarget(running) } : {}),
          ...(upToDate || passedStep ? { releasedAt: at, passed: true } : {}),
        };
      });
      before.declaration = spec;
      before.sourceId = sourceId;
      before.appLabels = declaration.appLabels;
      before.stepCount = stepCountOf(declaration, before.members);
      return before;
    }
    const fresh: RolloutMember[] = members.map(({ cluster, input }) => {
      const known = previous.get(memberKey(cluster.id, input.app));
      const running = current.get(cluster.id)?.get(input.app);
      // What the member goes back to: what it ran when the last revision it passed started.
      const stable = known
        ? known.passed
          ? known.wanted
          : known.stable
        : running
          ? toMemberTarget(running)
          : undefined;
      const upToDate = running?.digest === input.digest && (!known || known.passed === true);
      return {
        clusterId: cluster.id,
        cluster: cluster.name,
        app: input.app,
        step: stepOf(declaration, input.app, cluster.labels),
        wanted: toMemberTarget(input),
        ...(stable ? { stable } : {}),
        ...(upToDate ? { releasedAt: at, passed: true } : {}),
      };
    });
    const commit = String(members[0]?.input.desired.revision ?? "");
    const state: StoredState = {
      name: declaration.name,
      sourceId,
      appLabels: declaration.appLabels,
      declaration: spec,
      generation: (before?.generation ?? 0) + 1,
      commit,
      phase: "Progressing",
      step: 0,
      stepCount: stepCountOf(declaration, fresh),
      stepStartedAt: at,
      message: "",
      failures: [],
      members: fresh,
      startedAt: at,
      updatedAt: at,
    };
    if (fresh.every((member) => member.passed)) {
      state.phase = "Completed";
      state.step = state.stepCount;
      state.message = before
        ? `revision ${commit.slice(0, 7)} needs no change`
        : "every member runs its desired state";
    } else if (before?.phase === "Paused") {
      state.phase = "Paused";
      state.message = `revision ${commit.slice(0, 7)} waits: the rollout is paused`;
    } else {
      state.message = `revision ${commit.slice(0, 7)} started`;
    }
    return state;
  }

  async function advance(): Promise<void> {
    const commands = await store.rollouts.listCommands();
    const states = await loadStates();
    if (states.size === 0 && commands.length === 0) return;
    const clusters = new Map((await store.clusters.list()).map((cluster) => [cluster.id, cluster]));
    const writes = new Map<string, Map<string, TargetInput>>();
    const done: number[] = [];
    for (const command of commands) {
      const state = states.get(command.rollout);
      done.push(command.id);
      if (!state) {
        log("warn", "rollout command for an unknown rollout dropped", { rollout: command.rollout });
        continue;
      }
      await runCommand(state, command, writes);
      await save(state);
    }
    for (const state of states.values()) {
      if (state.phase !== "Progressing") continue;
      const before = JSON.stringify(state);
      await progress(state, clusters, writes);
      if (JSON.stringify(state) !== before) await save(state);
    }
    await writeTargets(writes);
    await store.rollouts.removeCommands(done);
  }

  function release(member: RolloutMember, writes: Map<string, Map<string, TargetInput>>, at: string) {
    member.releasedAt = at;
    member.doneAt = undefined;
    member.rolledBack = undefined;
    member.offlineSince = undefined;
    setWrite(writes, member.clusterId, toInput(member.app, member.wanted));
  }

  function rollBack(member: RolloutMember, writes: Map<string, Map<string, TargetInput>>): boolean {
    if (!member.stable || !member.releasedAt) return false;
    member.releasedAt = undefined;
    member.doneAt = undefined;
    member.passed = undefined;
    member.rolledBack = true;
    setWrite(writes, member.clusterId, toInput(member.app, member.stable));
    return true;
  }

  async function runCommand(
    state: StoredState,
    command: RolloutCommand,
    writes: Map<string, Map<string, TargetInput>>,
  ): Promise<void> {
    const at = now().toISOString();
    const by = command.actor ? ` by ${command.actor}` : "";
    switch (command.action) {
      case "pause":
        if (TERMINAL.has(state.phase) || state.phase === "Paused") return;
        state.phase = "Paused";
        await record(state, `paused${by} at ${stepLabel(state)}`);
        return;
      case "resume": {
        if (state.phase === "Progressing" || TERMINAL.has(state.phase)) return;
        const retry = state.phase === "Failed" || state.phase === "RolledBack";
        if (retry) {
          // The failed step is tried again: its members are released anew.
          for (const member of state.members) {
            if (member.step !== state.step || member.passed) continue;
            if (member.releasedAt) member.releasedAt = at;
            member.rolledBack = undefined;
          }
          state.failures = [];
        }
        state.phase = "Progressing";
        state.bakeStartedAt = undefined;
        await record(state, `resumed${by}${retry ? `; ${stepLabel(state)} is tried again` : ""}`);
        return;
      }
      case "abort": {
        if (TERMINAL.has(state.phase)) return;
        let rolledBack = 0;
        for (const member of state.members) if (rollBack(member, writes)) rolledBack += 1;
        state.phase = "Aborted";
        state.bakeStartedAt = undefined;
        await record(state, `aborted${by}; ${rolledBack} member(s) rolled back to their last good state`, {
          rolledBack,
        });
        return;
      }
      case "promote": {
        if (state.phase === "Completed") return;
        const upTo = command.all ? state.stepCount : state.step + 1;
        for (const member of state.members) {
          if (member.step >= upTo || member.passed) continue;
          if (!member.releasedAt || member.rolledBack) release(member, writes, at);
          member.passed = true;
          member.skipped = undefined;
        }
        const from = stepLabel(state);
        state.failures = [];
        state.bakeStartedAt = undefined;
        state.step = upTo;
        state.stepStartedAt = at;
        if (state.step >= state.stepCount) state.phase = "Completed";
        else if (state.phase !== "Paused") state.phase = "Progressing";
        await record(
          state,
          command.all
            ? `promoted${by}: every step released`
            : `promoted${by}: ${from} passed without its gate`,
        );
        if (state.phase === "Completed")
          await record(state, `revision ${state.commit.slice(0, 7)} completed`);
        return;
      }
    }
  }

  /** One pass of a Progressing rollout; may pass several steps (empty ones) at once. */
  async function progress(
    state: StoredState,
    clusters: Map<string, Cluster>,
    writes: Map<string, Map<string, TargetInput>>,
  ): Promise<void> {
    const nowMs = now().getTime();
    const at = new Date(nowMs).toISOString();
    const declaration = state.declaration;
    for (let guard = 0; guard <= state.stepCount && state.phase === "Progressing"; guard++) {
      if (state.step >= state.stepCount) {
        await complete(state, writes, at);
        return;
      }
      const stepMembers = state.members.filter((member) => member.step === state.step && !member.passed);
      const statuses = await statusesOf(stepMembers.filter((member) => member.releasedAt));
      const failures: RolloutFailure[] = [];
      for (const member of stepMembers) {
        if (member.skipped) continue;
        const cluster = clusters.get(member.clusterId);
        // An offline member is neither released nor failed: the step waits for it, or skips it
        // after the policy's timeout.
        if (cluster?.state !== "Connected") {
          member.offlineSince ??= (cluster?.lastSeenAt ?? new Date(nowMs)).toISOString();
          const policy = declaration.offline;
          if (policy.policy === "skip" && nowMs - Date.parse(member.offlineSince) >= policy.timeoutMs) {
            member.skipped = true;
            await record(
              state,
              `${member.cluster} is offline since ${member.offlineSince}: ${member.app} skipped at ${stepLabel(state)}; it gets the revision once the rollout completes`,
              { cluster: member.cluster, app: member.app },
            );
          }
          continue;
        }
        // Back online: a released member's progress deadline starts again.
        if (member.offlineSince && member.releasedAt) member.releasedAt = at;
        member.offlineSince = undefined;
        if (!member.releasedAt) continue;
        const status = statuses.get(memberKey(member.clusterId, member.app));
        const atWanted = status?.digest === member.wanted.digest;
        if (atWanted && status?.sync === SYNCED && status.health === HEALTHY && !status.stale) {
          member.doneAt ??= at;
          continue;
        }
        member.doneAt = undefined;
        if (atWanted && status && FAILED_HEALTH.has(status.health)) {
          failures.push(
            failureOf(
              member,
              `${status.health}${status.healthMessage ? `: ${status.healthMessage}` : ""}`,
              status.resources,
            ),
          );
          continue;
        }
        const releasedMs = Date.parse(member.releasedAt);
        if (nowMs - releasedMs >= declaration.progressDeadlineMs) {
          const seen = status
            ? atWanted
              ? `${status.sync}/${status.health}${status.healthMessage ? `: ${status.healthMessage}` : ""}`
              : "still reporting its previous desired state"
            : "no status reported";
          failures.push(
            failureOf(
              member,
              `not Synced and Healthy ${Math.round(declaration.progressDeadlineMs / 1000)} s after its release (${seen})`,
              atWanted ? (status?.resources ?? []) : [],
            ),
          );
        }
      }
      if (failures.length > 0) {
        await fail(state, failures, writes);
        return;
      }
      // Release while fewer than maxUnavailable released members of the step are not done.
      const active = stepMembers.filter((member) => !member.skipped);
      let updating = active.filter((member) => member.releasedAt && !member.doneAt).length;
      const allowed = allowedUpdating(declaration, state.step, active.length);
      for (const member of active) {
        if (updating >= allowed) break;
        if (member.releasedAt || member.offlineSince) continue;
        release(member, writes, at);
        updating += 1;
      }
      const allDone = active.every((member) => member.releasedAt && member.doneAt);
      if (!allDone) {
        state.bakeStartedAt = undefined;
        return;
      }
      const bakeMs = declaration.steps[state.step]?.bakeTimeMs ?? 0;
      state.bakeStartedAt ??= at;
      if (nowMs - Date.parse(state.bakeStartedAt) < bakeMs) return;
      for (const member of stepMembers) if (!member.skipped) member.passed = true;
      const passed = stepLabel(state);
      state.step += 1;
      state.stepStartedAt = at;
      state.bakeStartedAt = undefined;
      await record(
        state,
        `${passed} passed (${active.length} member(s) Healthy${bakeMs ? ` for ${bakeMs / 1000} s` : ""})`,
        {
          passedStep: state.step,
        },
      );
    }
  }

  async function complete(state: StoredState, writes: Map<string, Map<string, TargetInput>>, at: string) {
    let late = 0;
    for (const member of state.members) {
      if (!member.skipped) continue;
      release(member, writes, at);
      member.skipped = undefined;
      member.passed = true;
      late += 1;
    }
    for (const member of state.members) member.passed = true;
    state.phase = "Completed";
    state.bakeStartedAt = undefined;
    const counts = countMembers(state);
    await record(
      state,
      `revision ${state.commit.slice(0, 7)} completed: ${counts.updated + counts.updating} member(s) updated${late ? `, ${late} skipped member(s) released now` : ""}`,
    );
  }

  async function fail(
    state: StoredState,
    failures: RolloutFailure[],
    writes: Map<string, Map<string, TargetInput>>,
  ): Promise<void> {
    state.failures = failures;
    state.phase = "Failed";
    state.bakeStartedAt = undefined;
    const where = failures
      .map((failure) => `${failure.cluster} (${failure.app}: ${failure.message})`)
      .join(", ");
    await record(state, `failed at ${stepLabel(state)}: ${where}`, {
      failures: failures.map(({ cluster, app, message }) => ({ cluster, app, message })),
    });
    if (!state.declaration.rollback) return;
    let rolledBack = 0;
    for (const member of state.members) {
      if (member.step === state.step && !member.passed && rollBack(member, writes)) rolledBack += 1;
    }
    state.phase = "RolledBack";
    await record(
      state,
      `rolled back ${rolledBack} member(s) of ${stepLabel(state)} to their last good state`,
      {
        rolledBack,
      },
    );
  }

  async function statusesOf(members: readonly RolloutMember[]) {
    const out = new Map<string, Awaited<ReturnType<Store["statuses"]["list"]>>[number]>();
    for (const clusterId of new Set(members.map((member) => member.clusterId))) {
      for (const status of await store.statuses.list(clusterId))
        out.set(memberKey(clusterId, status.app), status);
    }
    return out;
  }

  /** Replaces the given apps' targets of each cluster, keeping the rest, and announces the change. */
  async function writeTargets(writes: Map<string, Map<string, TargetInput>>): Promise<void> {
    if (writes.size === 0) return;
    const current = await currentTargets(writes.keys());
    const entries = [...writes].map(([clusterId, apps]) => {
      const inputs = new Map<string, TargetInput>();
      for (const [app, target] of current.get(clusterId) ?? []) inputs.set(app, toInput(app, target));
      for (const [app, input] of apps) inputs.set(app, input);
      return { clusterId, next: [...inputs.values()] };
    });
    const results = await store.targets.applyMany(entries);
    for (const [clusterId, result] of results) {
      if (result.changed.length === 0 && result.removed.length === 0) continue;
      const seqs = [...result.changed.map((t) => t.seq), ...result.removed.map((r) => r.seq)];
      await bus.publish({
        type: "targets-changed",
        clusterId,
        apps: [...result.changed.map((t) => t.app), ...result.removed.map((r) => r.app)],
        seq: String(Math.max(...seqs)),
      });
    }
  }

  return { gate, advance };
}

function setWrite(writes: Map<string, Map<string, TargetInput>>, clusterId: string, input: TargetInput) {
  let apps = writes.get(clusterId);
  if (!apps) {
    apps = new Map();
    writes.set(clusterId, apps);
  }
  apps.set(input.app, input);
}

const MAX_FAILED_RESOURCES = 20;

function failureOf(member: RolloutMember, message: string, resources: readonly unknown[]): RolloutFailure {
  const failing: FailedResource[] = [];
  for (const entry of resources) {
    const resource = entry as {
      kind?: string;
      namespace?: string;
      name?: string;
      healthStatus?: string;
      message?: string;
    };
    const health = healthName(resource.healthStatus);
    if (health === "" || health === HEALTHY) continue;
    failing.push({
      kind: resource.kind ?? "",
      namespace: resource.namespace ?? "",
      name: resource.name ?? "",
      health,
      message: resource.message ?? "",
    });
    if (failing.length >= MAX_FAILED_RESOURCES) break;
  }
  return { cluster: member.cluster, app: member.app, message, resources: failing };
}

/** "HEALTH_STATUS_DEGRADED" (the proto JSON name) as "Degraded"; "" when unset. */
function healthName(value: string | undefined): string {
  if (!value || value === "HEALTH_STATUS_UNSPECIFIED") return "";
  const word = value.replace(/^HEALTH_STATUS_/, "").toLowerCase();
  return word.charAt(0).toUpperCase() + word.slice(1);
}
