// Randomness is injected: the server passes a Math.random-backed source, the simulation a seeded one.

export interface Random {
  /** A float in [0, 1). */
  next(): number;
}

/** A small seeded generator (sfc32): the same seed gives the same sequence on every platform. */
export function seededRandom(seed: number): Random & { int(maxExclusive: number): number } {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) next32();
  return {
    next: () => next32() / 2 ** 32,
    int: (maxExclusive: number) => Math.floor((next32() / 2 ** 32) * maxExclusive),
  };
}
