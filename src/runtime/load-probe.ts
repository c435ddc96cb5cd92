// The node's load as the adaptive repair rate reads it: the share of time the event loop spent running tasks
// (Node's event-loop utilisation) since the previous reading.

import { performance } from 'node:perf_hooks';
import type { LoadProbe } from '../antientropy/adaptive.js';

export function eventLoopProbe(): LoadProbe {
  let last = performance.eventLoopUtilization();
  return {
    busy() {
      const now = performance.eventLoopUtilization();
      const delta = performance.eventLoopUtilization(now, last);
      last = now;
      return delta.utilization;
    },
  };
}
