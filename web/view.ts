// What every panel receives on each render: the latest poll, what is derived from it, and the actions the
// controls may trigger. Panels are functions of this and hold no state of their own.

import type { ClusterDigestView, ClusterView } from '../src/server/dashboard/types.js';
import type { HistoryStore } from './history-store.js';
import type { PairDiff } from './model.js';

export interface ViewState {
  readonly cluster: ClusterView;
  readonly digest: ClusterDigestView | null;
  readonly pairs: readonly PairDiff[];
  /** Node id → group of equal digest roots (0 = the majority). */
  readonly groups: ReadonlyMap<string, number>;
  readonly history: HistoryStore;
  /** The digest level the keyspace view and the pair estimates use. */
  readonly level: number;
  /** A pair whose last successful session is older than this gets a warning (see model.staleAfterMs). */
  readonly staleAfterMs: number;
}

export interface Actions {
  /** Runs a control's request, shows its outcome and polls again at once. */
  act(label: string, work: () => Promise<unknown>): void;
  setLevel(level: number): void;
  /** Redraws the panels from the last poll (after a change of a view option). */
  refresh(): void;
}

export type Panel = (body: HTMLElement, view: ViewState, actions: Actions) => void;

/** Distinct colours for digest-root groups; group 0 (the majority) is the "in agreement" green. */
export function groupClass(group: number | undefined): string {
  return group === undefined ? 'group-none' : `group-${Math.min(group, 4)}`;
}
