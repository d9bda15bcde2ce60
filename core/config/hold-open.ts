/**
 * Keeps the process alive while it waits for the controller: the CA client's retry timers are
 * unref'd, so a waypoint or agent with nothing else open would otherwise exit quietly (code 0)
 * instead of retrying. Release it once the process listens. In its own module so that a
 * binary in file mode does not load the controller link (and gRPC) just for this.
 */
export function holdProcessOpen(): () => void {
  const timer = setInterval(() => undefined, 60_000);
  return () => clearInterval(timer);
}
