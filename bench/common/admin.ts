// Reading an agent's or waypoint's admin endpoint from a bench.

export async function adminGet(port: number, path: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return res.json();
}

/** Waits (10 s at most) until the admin's /config_dump reports `version`. */
export async function waitForVersion(adminPort: number, version: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const dump = await adminGet(adminPort, '/config_dump').catch(() => undefined) as { version?: string } | undefined;
    if (dump?.version === version) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`config ${version} was not applied within 10 s`);
}
