// The one line every Ambit binary prints on stdout once it serves: `ready {json}`, with the
// ports it listens on. Supervisors (`ambitctl local`) and tests wait for it; everything else
// goes to stderr as JSON log lines.
export function readyLine(fields: Readonly<Record<string, number | string | undefined>>): string {
  const present = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  return `ready ${JSON.stringify(present)}\n`;
}

export function printReadyLine(fields: Readonly<Record<string, number | string | undefined>>): void {
  process.stdout.write(readyLine(fields));
}
