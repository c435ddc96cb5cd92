// Wires the anti-entropy process into a node's context (shared by serve, demo and the tests).

import { createAntiEntropy } from '../antientropy/process.js';
import { rangeFetchWorker } from '../antientropy/serve-offload.js';
import { repairResponderLimitsDefault } from '../core/reconcile-driver.js';
import { eventLoopProbe } from '../runtime/load-probe.js';
import { systemClock, systemRandom, systemTimers } from '../runtime/system.js';
import type { ServiceContext } from '../server/context.js';

export async function extendWithAntiEntropy(ctx: ServiceContext): Promise<void> {
  const { aeAdaptive, aeSessions } = ctx.config;
  const offload =
    ctx.config.aeServeWorker && ctx.config.mechanisms.antiEntropy
      ? rangeFetchWorker({
          dataDir: ctx.config.dataDir,
          sync: ctx.config.sync,
          responseBytesMax: repairResponderLimitsDefault.fetchResponseBytesMax,
          writeEpochs: ctx.replica.shareWriteEpochs(),
          onFailure: (err) =>
            process.stderr.write(
              `converge: WARNING: node ${ctx.config.id}: the anti-entropy worker failed (${err.message}); repair's bulk work runs on the event loop from now on\n`,
            ),
        })
      : undefined;
  if (offload !== undefined) ctx.onClose(() => offload.close());
  const ae = createAntiEntropy({
    ...(offload === undefined ? {} : { rangeFetchOffload: offload, pullOffload: offload }),
    node: ctx.node,
    replica: ctx.replica,
    transport: ctx.transport,
    peers: ctx.config.peers.map((p) => p.id),
    clock: systemClock,
    busyNow: () => performance.now(),
    random: systemRandom,
    timers: systemTimers,
    registry: ctx.registry,
    intervalMs: ctx.config.aeIntervalMs,
    enabled: ctx.config.mechanisms.antiEntropy,
    tombstoneGraceMs: ctx.config.tombstoneGraceMs,
    verifyPassIntervalMs: ctx.config.verification.passIntervalMs,
    verifyRecordsPerSecondMax: ctx.config.verification.recordsPerSecondMax,
    verifyStartDelayMs: ctx.config.verification.startDelayMs,
    throttle: ctx.config.aeThrottle,
    operatorActionWarnAfterMs: ctx.config.operatorActionWarnAfterMs,
    limits: aeSessions,
    ...(aeAdaptive.enabled ? { loadProbe: eventLoopProbe() } : {}),
    adaptive: {
      loopBusyPercentTarget: aeAdaptive.loopBusyPercentTarget,
      intervalMs: aeAdaptive.intervalMs,
      recordsPerSecondMin: aeAdaptive.recordsPerSecondMin,
    },
  });
  ae.start();
  ctx.antiEntropy = ctx.config.mechanisms.antiEntropy ? ae : undefined;
  ctx.onClose(() => ae.stop());
}
