// Runs the symbol path to its end over any request/response channel: the sessions, the benchmark and the
// property tests drive it the same way.

import type { Exchange } from './reconcile-driver.js';
import type { SymbolReconciler } from './symbol-reconciler.js';

/** Exchanges messages until the path has decoded the difference or decided to fall back. */
export async function reconcileSymbols(path: SymbolReconciler, exchange: Exchange): Promise<void> {
  for (let req = path.nextRequest(); req !== null; req = path.nextRequest())
    path.onResponse(await exchange(req));
}
