// Prometheus metrics of anti-entropy.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface AntiEntropyMetrics {
  readonly sessions: Counter<'peer' | 'result'>;
  readonly divergent: Counter;
  readonly repaired: Counter<'direction'>;
  readonly bytes: Counter<'direction'>;
  readonly duration: Histogram;
  readonly verificationMismatches: Counter<'kind'>;
  readonly tombstonesPurged: Counter;
  readonly notOwnedDropped: Counter;
}

export function createAntiEntropyMetrics(
  registry: Registry,
  lastSuccessAge: () => Record<string, number | null>,
): AntiEntropyMetrics {
  const registers = [registry];
  new Gauge({
    name: 'converge_ae_last_success_age_seconds',
    help: 'Seconds since the last successful anti-entropy session with each peer (absent: never)',
    labelNames: ['peer'],
    registers,
    collect() {
      for (const [peer, age] of Object.entries(lastSuccessAge())) if (age !== null) this.set({ peer }, age);
    },
  });
  return {
    sessions: new Counter({
      name: 'converge_ae_sessions_total',
      help: 'Anti-entropy sessions by peer and result',
      labelNames: ['peer', 'result'],
      registers,
    }),
    divergent: new Counter({
      name: 'converge_ae_keys_divergent_total',
      help: 'Keys found divergent by sessions this node initiated',
      registers,
    }),
    repaired: new Counter({
      name: 'converge_ae_keys_repaired_total',
      help: 'Records repaired, by direction (pull: written here, push: written on the peer)',
      labelNames: ['direction'],
      registers,
    }),
    bytes: new Counter({
      name: 'converge_ae_bytes_total',
      help: 'Repair bytes by direction',
      labelNames: ['direction'],
      registers,
    }),
    duration: new Histogram({
      name: 'converge_ae_session_duration_seconds',
      help: 'Anti-entropy session duration',
      buckets: [0.005, 0.02, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers,
    }),
    verificationMismatches: new Counter({
      name: 'converge_digest_verification_mismatches_total',
      help: 'Digest verification mismatches found and repaired',
      labelNames: ['kind'],
      registers,
    }),
    tombstonesPurged: new Counter({
      name: 'converge_tombstones_purged_total',
      help: 'Tombstones purged after the watermark proved every replica had them',
      registers,
    }),
    notOwnedDropped: new Counter({
      name: 'converge_ae_records_not_owned_dropped_total',
      help: 'Records a peer pushed or sent for a partition this node does not hold, dropped unwritten',
      registers,
    }),
  };
}
