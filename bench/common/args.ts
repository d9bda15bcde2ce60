// Command-line values shared by the bench runners, with errors that name the option.

export function positiveOption(name: string, value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new Error(`--${name}: expected a positive number, got "${value}"`);
  return n;
}

/** `--cases a,b` checked against the bench's known cases (all of them when absent). */
export function caseOption<T extends string>(value: string | undefined, known: readonly T[]): T[] {
  const cases = value ? value.split(',').map((s) => s.trim()) : [...known];
  for (const c of cases)
    if (!(known as readonly string[]).includes(c))
      throw new Error(`--cases: unknown case "${c}" (known: ${known.join(', ')})`);
  return cases as T[];
}
