// Prometheus metrics of the write and read paths and of hinted handoff.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ClusterMetrics {
  readonly writes: Counter<'consistency' | 'result'>;
  readonly reads: Counter<'consistency' | 'result'>;
  readonly requestSeconds: Histogram<'op'>;
  readonly readRepairs: Counter;
  readonly hintsStored: Counter;
  readonly replicationShed: Counter;
}

export function createClusterMetrics(
  registry: Registry,
  gauges: { hintsPending: () => number; hintBytes: () => number; hintsDropped: () => Record<string, number>; hintsReplayed: () => number; keys: () => number },
): ClusterMetrics {
  const registers = [registry];
  new Gauge({ name: 'converge_hints_pending', help: 'Hints waiting for their replica', registers, collect() { this.set(gauges.hintsPending()); } });
  new Gauge({ name: 'converge_hint_bytes', help: 'Bytes held in the hint store', registers, collect() { this.set(gauges.hintBytes()); } });
  new Gauge({ name: 'converge_hints_replayed', help: 'Hints delivered since start', registers, collect() { this.set(gauges.hintsReplayed()); } });
  new Gauge({
    name: 'converge_hints_dropped',
    help: 'Hints dropped since start, by reason (full, expired)',
    labelNames: ['reason'],
    registers,
    collect() {
      for (const [reason, n] of Object.entries(gauges.hintsDropped())) this.set({ reason }, n);
    },
  });
  new Gauge({ name: 'converge_keys', help: 'Records in this replica, tombstones included', registers, collect() { this.set(gauges.keys()); } });
  return {
    writes: new Counter({ name: 'converge_writes_total', help: 'Client writes by consistency and result', labelNames: ['consistency', 'result'], registers }),
    reads: new Counter({ name: 'converge_reads_total', help: 'Client reads by consistency and result', labelNames: ['consistency', 'result'], registers }),
    requestSeconds: new Histogram({
      name: 'converge_request_duration_seconds',
      help: 'Coordinator latency of client requests',
      labelNames: ['op'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers,
    }),
    readRepairs: new Counter({ name: 'converge_read_repairs_total', help: 'Stale replicas sent the winning record by a read', registers }),
    hintsStored: new Counter({ name: 'converge_hints_stored_total', help: 'Hints stored for unreachable replicas', registers }),
    replicationShed: new Counter({
      name: 'converge_replication_shed_total',
      help: 'Replication requests not sent because replicationInFlightMax requests to that peer were already in flight',
      registers,
    }),
  };
}
