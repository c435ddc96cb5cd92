import { MemoryReplica } from '../src/core/memory-reader.js';
import { respond } from '../src/core/reconcile-driver.js';
import { keyToBytes, makeRecord } from '../src/core/record.js';
import { SymbolReconciler, symbolPathOptionsDefault } from '../src/core/symbol-reconciler.js';
import { decodeSymbolResponse } from '../src/core/wire-symbols.js';
const n = Number(process.argv[2] ?? 50000);
const d = Number(process.argv[3] ?? 10000);
const a = new MemoryReplica(18, 65536), b = new MemoryReplica(18, 65536);
for (let i = 0; i < n; i++) {
  const r = makeRecord(keyToBytes(`user:${String(i).padStart(10, '0')}`), { ms: 1000 + i, counter: 0, node: 'w' }, new Uint8Array([i & 255]));
  a.apply([r]); b.apply([r]);
}
for (let i = 0; i < d; i++) b.apply([makeRecord(keyToBytes(`user:${String(i).padStart(10, '0')}`), { ms: 5000000 + i, counter: 0, node: 'w' }, new Uint8Array([7]))]);
const noApply = async () => ({ applied: 0, ignored: 0 });
const path = new SymbolReconciler(a, { ...symbolPathOptionsDefault, salt: 0x5eed });
for (let req = path.nextRequest(); req !== null; req = path.nextRequest()) {
  const res = await respond(b, noApply, req);
  let info = '';
  try { const x = decodeSymbolResponse(res); info = `${x.kind} ${'estimate' in x ? x.estimate : ''} ${'symbols' in x ? x.symbols.length / 3 : ''}`; } catch { info = 'headers'; }
  console.log('req', req.length, 'res', res.length, info, 'est', path.stats.estimate);
  path.onResponse(res);
}
console.log(path.outcome, path.stats, path.differences.length);
