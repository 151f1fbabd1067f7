/**
 * Puts `xs` in random order, in place (Fisher–Yates), and returns it. `random` gives numbers in
 * [0, 1) as Math.random does: a test passes a seeded one to get the same order every run.
 */
export function shuffle<T>(xs: T[], random: () => number = Math.random): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}
