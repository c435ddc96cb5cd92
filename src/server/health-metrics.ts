// Metrics of the node's health beyond its requests: whether its storage takes writes (a full disk shows here
// before a client notices), how many promise rejections nobody handled (see process-guard.ts), and how many
// peer requests were answered by their timeout while undici still held them (a partitioned peer).

import { Gauge, type Registry } from 'prom-client';
import type { StorageHealth } from '../storage/guarded.js';
import { unhandledRejectionCount } from './process-guard.js';

export function registerHealthMetrics(registry: Registry, health: () => StorageHealth): void {
  new Gauge({
    name: 'converge_storage_failing',
    help: 'The storage refuses writes after a failure (1: a full disk or an I/O error, see /status), else 0',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      const h = health();
      this.reset();
      this.set({ code: h.code ?? 'none' }, h.state === 'failing' ? 1 : 0);
    },
  });
  const totals: Array<[string, string, (h: StorageHealth) => number]> = [
    [
      'converge_storage_write_failures_total',
      'Storage writes that failed (commits tried), since start',
      (h) => h.failures,
    ],
    [
      'converge_storage_writes_refused_total',
      'Storage writes refused without trying while the storage was failing',
      (h) => h.refused,
    ],
    [
      'converge_storage_recoveries_total',
      'Failing periods of the storage that ended by themselves',
      (h) => h.recoveries,
    ],
  ];
  for (const [name, help, read] of totals) {
    // Monotonic counts kept by the storage wrapper; a gauge set at scrape time exposes them as they are.
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(health()));
      },
    });
  }
  new Gauge({
    name: 'converge_unhandled_rejections_total',
    help: 'Promise rejections nobody handled, logged and counted by the process guard (0 when not installed)',
    registers: [registry],
    collect() {
      this.set(unhandledRejectionCount());
    },
  });
}

export function registerTransportMetrics(registry: Registry, abandoned: () => number): void {
  new Gauge({
    name: 'converge_peer_requests_abandoned_total',
    help: 'Requests to peers that ended at their timeout while still queued or connecting (a partitioned peer)',
    registers: [registry],
    collect() {
      this.set(abandoned());
    },
  });
}
