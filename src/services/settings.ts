// A node's settings from its configuration: what `converge serve`, the demo, the library's startNode and the
// benches run with. The simulator makes its own from its SimConfig (sim/world.ts).

import type { MembershipDriverSettings } from '../cluster/membership-driver-loop.js';
import type { NodeConfig } from '../config/config.js';
import type { RebuildProgress } from '../replica/rebuild.js';
import type { NodeServicesSettings } from './node-services.js';

export function settingsFromConfig(
  config: NodeConfig,
  onRebuildProgress?: (progress: RebuildProgress) => void,
): NodeServicesSettings {
  const { aeAdaptive, verification } = config;
  return {
    id: config.id,
    peers: config.peers,
    ring: { partitions: config.partitions, replicationFactor: config.replicationFactor },
    replica: {
      leafBits: config.leafBits,
      maxClockDriftMs: config.maxClockDriftMs,
      symbolsMax: config.symbolsMax,
      partitionBits: Math.log2(config.partitions),
      partitionSymbolsBudget: config.partitionSymbolsBudget,
      storageWritesInFlightMax: config.storageWritesInFlightMax,
      ...(onRebuildProgress === undefined ? {} : { onRebuildProgress }),
    },
    node: {
      limits: {
        keyBytesMax: config.limits.keyBytesMax,
        valueBytesMax: config.limits.valueBytesMax,
        requestTimeoutMs: config.limits.requestTimeoutMs,
        ...config.replication,
      },
      mechanisms: config.mechanisms,
      hintLimits: config.hints,
      maxClockDriftMs: config.maxClockDriftMs,
    },
    antiEntropy: {
      intervalMs: config.aeIntervalMs,
      enabled: config.mechanisms.antiEntropy,
      tombstoneGraceMs: config.tombstoneGraceMs,
      verifyPassIntervalMs: verification.passIntervalMs,
      verifyRecordsPerSecondMax: verification.recordsPerSecondMax,
      verifyStartDelayMs: verification.startDelayMs,
      throttle: config.aeThrottle,
      operatorActionWarnAfterMs: config.operatorActionWarnAfterMs,
      limits: config.aeSessions,
      adaptive: {
        // Without a load probe (aeAdaptive off) the adaptive rate is off whatever its target.
        loopBusyPercentTarget: aeAdaptive.loopBusyPercentTarget,
        intervalMs: aeAdaptive.intervalMs,
        recordsPerSecondMin: aeAdaptive.recordsPerSecondMin,
      },
    },
  };
}

/** The membership change driver's settings from the configuration (createMembershipDriver's deps). */
export function membershipDriverSettingsFromConfig(config: NodeConfig): Partial<MembershipDriverSettings> {
  return {
    cleanupGraceMs: config.membershipDriver.cleanupGraceMs,
    streamingConcurrency: config.membershipDriver.streamingConcurrency,
    partitionsPerSessionMax: config.membershipDriver.partitionsPerSessionMax,
    tickMs: config.membershipDriver.tickMs,
    takeoverAfterMs: config.membershipDriver.takeoverAfterMs,
  };
}
