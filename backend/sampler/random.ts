/**
 * A seeded PRNG per sequence, so a request's random_seed fixes its output no matter which other
 * sequences share the step. Hand-written because Math.random cannot be seeded and no library is
 * needed for 10 lines: SplitMix32 (Steele, Lea & Flood; Vigna's 32-bit variant), uniform in [0, 1).
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }
}

/** A fresh seed for requests without random_seed. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 4294967296);
}

/** Seed of choice `index` of a request: distinct per choice, fixed by the request's seed. */
export function choiceSeed(seed: number, index: number): number {
  return index === 0 ? seed >>> 0 : (Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) + Math.imul(index, 0x9e3779b9)) >>> 0;
}
