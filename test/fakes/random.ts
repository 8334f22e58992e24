// Seeded randomness for the fakes' data generators (./verra.ts, ./subgraph_data.ts): the same seed
// gives the same draws, so generated data is the same to the byte on every run and every clone.

export type Rand = () => number;

/** mulberry32: tiny, fast, good enough for fixtures, and reproducible from a seed. */
export function mulberry32(seed: number): Rand {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max], both included (one draw). */
export const int = (rand: Rand, min: number, max: number) => min + Math.floor(rand() * (max - min + 1));

/** One of `items`, uniformly (one draw). */
export const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

/** Returns a sampler over `items` proportional to `weights` (binary search on the cumulative sum). */
export function weighted<T>(items: readonly T[], weights: readonly number[]): (rand: Rand) => T {
  const cumulative: number[] = [];
  let total = 0;
  for (const w of weights) cumulative.push((total += w));
  return (rand) => {
    const target = rand() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! <= target) lo = mid + 1;
      else hi = mid;
    }
    return items[lo]!;
  };
}
