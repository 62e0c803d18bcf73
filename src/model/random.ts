/** The seeded pseudo-random generator of the simulator (fault injection) and of synthetic history. */

/** mulberry32: a 32-bit seeded PRNG with serialisable state. */
export class Mulberry32 {
  state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** A seeded uniform [0, 1) draw function over Mulberry32 (for benchmarks and tests that want a plain function). */
export function seededUniform(seed: number): () => number {
  const g = new Mulberry32(seed);
  return () => g.next();
}
