// The vocabulary of DESIGN.md as the dashboard explains it, each term linked to the panel that shows it.
// docs/glossary.md says the same in prose; a test keeps the two term lists and panel links in step.

import { h, slug } from './dom.js';

export type PanelId =
  | 'overview'
  | 'controls'
  | 'operations'
  | 'nodes'
  | 'ring'
  | 'pairs'
  | 'keyspace'
  | 'sessions'
  | 'history'
  | 'watermarks'
  | 'mechanisms';

export const panelTitles: Record<PanelId, string> = {
  overview: 'Convergence',
  controls: 'Scenario controls',
  operations: 'Operations',
  nodes: 'Nodes',
  ring: 'Ring',
  pairs: 'Replica pairs',
  keyspace: 'Keyspace',
  sessions: 'Running sessions',
  history: 'History',
  watermarks: 'Tombstone watermarks',
  mechanisms: 'Mechanisms',
};

export interface Term {
  readonly term: string;
  readonly definition: string;
  /** Where the dashboard shows it: the first panel is the main one. */
  readonly panels: readonly PanelId[];
}

export const glossary: readonly Term[] = [
  {
    term: 'replica',
    panels: ['nodes'],
    definition:
      "One node's copy of the data. Each node card is one replica: its key count and the root of its digest.",
  },
  {
    term: 'drift',
    panels: ['pairs', 'keyspace'],
    definition:
      'Replicas of the same key range coming to hold different records: a partition, a crash or a dropped write lets one replica miss what the others accepted. Also called divergence.',
  },
  {
    term: 'divergence',
    panels: ['overview', 'pairs', 'keyspace'],
    definition:
      'How far replicas have drifted apart. The dashboard estimates it in keys from the digests, per pair of replicas, and shows the largest pair in the headline.',
  },
  {
    term: 'write path',
    panels: ['nodes', 'controls'],
    definition:
      'A client request goes to a coordinator node, which sends the write to every replica and acknowledges once W of them have persisted it. A write burst in the demo takes this path.',
  },
  {
    term: 'consistency level',
    panels: ['controls'],
    definition:
      'How many replicas must answer a request: one, quorum (a majority) or all — W for writes, R for reads. The demo writes at one, so an isolated replica simply misses the burst.',
  },
  {
    term: 'hinted handoff',
    panels: ['mechanisms', 'nodes'],
    definition:
      'A write meant for an unreachable replica is kept as a hint by another node and replayed when the replica returns. Node cards count the hints pending.',
  },
  {
    term: 'read repair',
    panels: ['mechanisms'],
    definition:
      'A read that finds replicas disagreeing writes the newest version back to the stale ones. It only repairs keys somebody reads.',
  },
  {
    term: 'anti-entropy',
    panels: ['sessions', 'mechanisms', 'history'],
    definition:
      'The periodic background compare-and-repair between replicas: the one mechanism that catches every cause of drift, including keys nobody reads and hints that were lost.',
  },
  {
    term: 'digest',
    panels: ['nodes', 'keyspace'],
    definition:
      'A compact summary of a replica, updated on every write: a tree of XOR hashes over token prefixes. Equal roots mean identical replicas; the keyspace view compares one level of the tree.',
  },
  {
    term: 'token',
    panels: ['keyspace'],
    definition:
      "A key's position in the keyspace: a hash of the key. Tokens order the keyspace; a token prefix is a slice of it, one cell of the keyspace view.",
  },
  {
    term: 'reconciliation',
    panels: ['keyspace', 'sessions'],
    definition:
      'The protocol by which two replicas find exactly the keys on which they differ, by comparing digest prefixes top-down and descending only where hashes differ.',
  },
  {
    term: 'repair',
    panels: ['history', 'sessions'],
    definition:
      'Sending the winning version of each differing key to the replica that lacks it. The history chart counts the keys each session repaired (pulled plus pushed).',
  },
  {
    term: 'session',
    panels: ['sessions', 'history'],
    definition:
      'One anti-entropy run between two replicas for one key range. It has progress and an ETA while it runs, then a result (converged, repaired, failed…) and a history entry.',
  },
  {
    term: 'tombstone',
    panels: ['watermarks'],
    definition:
      'The record a delete leaves behind, so that the delete itself can be replicated and repaired instead of the old value coming back.',
  },
  {
    term: 'watermark',
    panels: ['watermarks'],
    definition:
      'The time up to which every replica of a range is known to have been compared and repaired. Tombstones older than the cluster watermark (minus a grace) can be purged safely.',
  },
  {
    term: 'convergence',
    panels: ['overview', 'pairs'],
    definition:
      'All replicas of a range hold identical records, so their digests are identical. The headline turns green and every pair shows “equal”.',
  },
  {
    term: 'partition',
    panels: ['ring'],
    definition:
      'One of the P equal slices of the hash-ordered keyspace (--partitions, default 256): the top bits of a key’s token pick it, so a partition is exactly one subtree of the digest. It is the unit of placement: each partition is held by RF of the members.',
  },
  {
    term: 'preference list',
    panels: ['ring'],
    definition:
      'The ordered list of the RF members that hold a partition: the replicas every key of it is written to and read from, whichever node coordinates the request.',
  },
  {
    term: 'ring epoch',
    panels: ['ring'],
    definition:
      'The version number of the ring (its members and their partitions). Members compare rings on every ping; a member with other partitions, replication factor, members or epoch is refused until it runs the same ring.',
  },
  {
    term: 'membership change',
    panels: ['ring'],
    definition:
      'A member joins (joining), leaves (leaving) or replaces a dead one while the cluster serves. Each partition that changes owners is pending while anti-entropy sessions stream it to its new owners (its writes go to old and new owners, only the old count), streamed once their range digests are equal, moved when the new owners serve it, and cleaned when the old owners have removed their copy after the cleanup grace.',
  },
];

export function termsForPanel(panel: PanelId): readonly Term[] {
  return glossary.filter((t) => t.panels[0] === panel);
}

export function renderGlossary(): HTMLElement {
  const entries = glossary.map((t) =>
    h(
      'div',
      { class: 'term-entry', id: `glossary-${slug(t.term)}`, 'data-testid': 'glossary-term' },
      h('dt', {}, h('a', { href: `#/glossary/${slug(t.term)}`, class: 'anchor' }, '#'), ' ', t.term),
      h(
        'dd',
        {},
        t.definition,
        ' ',
        h(
          'span',
          { class: 'shown-in' },
          'Shown in: ',
          ...t.panels.flatMap((p, i) => [i > 0 ? ', ' : '', h('a', { href: `#${p}` }, panelTitles[p])]),
        ),
      ),
    ),
  );
  return h(
    'section',
    { class: 'glossary' },
    h('h2', {}, 'Glossary'),
    h(
      'p',
      { class: 'hint' },
      'The words the dashboard uses, as converge means them. Each links to the panel that shows it.',
    ),
    h('dl', {}, ...entries),
  );
}
