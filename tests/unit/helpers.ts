// Small helpers the unit tests share.

/** Bytes from hex text; white space and // comments are ignored, so vectors can be annotated. */
export const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+|\/\/[^\n]*/g, ''), 'hex');

/** Deterministic PRNG (mulberry32) so a fuzz failure can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 0x100000000;
  };
}
