// Wires the anti-entropy process into a node's context (kept apart so serve, demo and tests share it).

import type { ServiceContext } from '../server/context.js';

export async function extendWithAntiEntropy(_ctx: ServiceContext): Promise<void> {
  // The anti-entropy process attaches here once it lands (issue 4).
}
