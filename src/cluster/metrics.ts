// Prometheus metrics of the write and read paths and of hinted handoff.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ClusterMetrics {
  readonly writes: Counter<'consistency' | 'result'>;
  readonly reads: Counter<'consistency' | 'result'>;
  readonly requestSeconds: Histogram<'op'>;
  readonly readRepairs: Counter;
  readonly hintsStored: Counter;
  readonly readRepairsSkipped: Counter;
}

/** What the replication channels and admission expose (gauges read at scrape time). */
export interface ReplicationGauges {
  /** Per peer: records and bytes queued or in flight, messages and records sent, messages failed. */
  channels(): ReadonlyArray<{
    peer: string;
    records: number;
    bytes: number;
    messages: number;
    sent: number;
    failed: number;
    down: boolean;
  }>;
  limits(): { records: number; bytes: number };
  admission(): { waiting: number; atOnce: number; afterWait: number; overloaded: number };
}

/** The node's state, read at scrape time: hints waiting, their bytes, replayed and dropped, and the keys. */
export interface StateGauges {
  hintsPending: () => number;
  hintBytes: () => number;
  hintsDropped: () => Record<string, number>;
  hintsReplayed: () => number;
  keys: () => number;
}

export function createClusterMetrics(registry: Registry, gauges: StateGauges): ClusterMetrics {
  const registers = [registry];
  registerStateGauges(registry, gauges);
  return {
    writes: new Counter({
      name: 'converge_writes_total',
      help: 'Client writes by consistency and result',
      labelNames: ['consistency', 'result'],
      registers,
    }),
    reads: new Counter({
      name: 'converge_reads_total',
      help: 'Client reads by consistency and result',
      labelNames: ['consistency', 'result'],
      registers,
    }),
    requestSeconds: new Histogram({
      name: 'converge_request_duration_seconds',
      help: 'Coordinator latency of client requests',
      labelNames: ['op'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers,
    }),
    readRepairs: new Counter({
      name: 'converge_read_repairs_total',
      help: 'Stale replicas sent the winning record by a read',
      registers,
    }),
    hintsStored: new Counter({
      name: 'converge_hints_stored_total',
      help: 'Hints stored for unreachable replicas',
      registers,
    }),
    readRepairsSkipped: new Counter({
      name: 'converge_read_repairs_skipped_total',
      help: 'Read repairs not sent because the replica was down or its replication queue was full',
      registers,
    }),
  };
}

function registerStateGauges(registry: Registry, gauges: StateGauges): void {
  const registers = [registry];
  new Gauge({
    name: 'converge_hints_pending',
    help: 'Hints waiting for their replica',
    registers,
    collect() {
      this.set(gauges.hintsPending());
    },
  });
  new Gauge({
    name: 'converge_hint_bytes',
    help: 'Bytes held in the hint store',
    registers,
    collect() {
      this.set(gauges.hintBytes());
    },
  });
  new Gauge({
    name: 'converge_hints_replayed',
    help: 'Hints delivered since start',
    registers,
    collect() {
      this.set(gauges.hintsReplayed());
    },
  });
  new Gauge({
    name: 'converge_hints_dropped',
    help: 'Hints dropped since start, by reason (full, expired)',
    labelNames: ['reason'],
    registers,
    collect() {
      for (const [reason, n] of Object.entries(gauges.hintsDropped())) this.set({ reason }, n);
    },
  });
  new Gauge({
    name: 'converge_keys',
    help: 'Records in this replica, tombstones included',
    registers,
    collect() {
      this.set(gauges.keys());
    },
  });
}

export function registerReplicationMetrics(registry: Registry, g: ReplicationGauges): void {
  const registers = [registry];
  const perPeer = (
    name: string,
    help: string,
    pick: (c: ReturnType<ReplicationGauges['channels']>[number]) => number,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames: ['peer'],
      registers,
      collect() {
        for (const c of g.channels()) this.set({ peer: c.peer }, pick(c));
      },
    });
  };
  perPeer(
    'converge_replication_queue_records',
    'Records queued or in flight to the peer, not yet acknowledged',
    (c) => c.records,
  );
  perPeer('converge_replication_queue_bytes', 'Bytes of those records', (c) => c.bytes);
  perPeer(
    'converge_replication_messages',
    'Replication messages sent to the peer since start',
    (c) => c.messages,
  );
  perPeer(
    'converge_replication_records_sent',
    'Records sent to the peer in replication messages since start',
    (c) => c.sent,
  );
  perPeer(
    'converge_replication_messages_failed',
    'Replication messages to the peer that failed',
    (c) => c.failed,
  );
  perPeer(
    'converge_replication_peer_down',
    '1 while the peer is taken as down (its last message failed)',
    (c) => (c.down ? 1 : 0),
  );
  new Gauge({
    name: 'converge_replication_queue_limit',
    help: 'The per-peer queue bounds: replicationQueueRecordsMax and replicationQueueBytesMax',
    labelNames: ['unit'],
    registers,
    collect() {
      const l = g.limits();
      this.set({ unit: 'records' }, l.records);
      this.set({ unit: 'bytes' }, l.bytes);
    },
  });
  new Gauge({
    name: 'converge_admission',
    help: 'Write admission: writes waiting now, and since start admitted at once, admitted after waiting, refused OVERLOADED',
    labelNames: ['state'],
    registers,
    collect() {
      const a = g.admission();
      this.set({ state: 'waiting' }, a.waiting);
      this.set({ state: 'admitted_at_once' }, a.atOnce);
      this.set({ state: 'admitted_after_wait' }, a.afterWait);
      this.set({ state: 'overloaded' }, a.overloaded);
    },
  });
}
