// The shape of a node's /status: the node's own status and its anti-entropy process's, each typed by its
// owner and composed by the server (node-services.ts), so neither reaches into the other.

import type { AntiEntropyStatus } from '../antientropy/types.js';
import type { NodeOwnStatus } from '../cluster/node-types.js';

export interface NodeStatus extends NodeOwnStatus {
  readonly antiEntropy: AntiEntropyStatus;
}
