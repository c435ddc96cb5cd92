// The node's load as the adaptive repair rate reads it: the share of time the event loop spent running tasks
// (Node's event-loop utilisation) since the previous reading. Shaped as antientropy's LoadProbe; not imported
// from there, so that runtime stays below the other folders (no import cycle).

import { performance } from 'node:perf_hooks';

export function eventLoopProbe(): { busy(): number } {
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
