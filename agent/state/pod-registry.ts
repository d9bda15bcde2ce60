// The pods enrolled on this node, persisted in AMBIT_STATE_DIR so that a restarted agent
// re-creates their listeners without the CNI plugin running again. Written atomically
// (temp file + rename); writes are serialised.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parsePodInfo, type PodInfo } from '../../core/enrolment/index.js';
import { AmbitError, describeError } from '../../core/errors.js';

const FILE = 'pods.json';

export class PodRegistry {
  private readonly pods = new Map<string, PodInfo>();
  private writing: Promise<void> = Promise.resolve();
  /** The write queued behind the running one, not started yet (changes join it). */
  private queued: Promise<void> | undefined;

  constructor(readonly stateDir: string) {}

  get file(): string {
    return path.join(this.stateDir, FILE);
  }

  /** Read the persisted pods; entries that do not parse are reported and skipped. */
  async load(): Promise<{ pods: PodInfo[]; problems: string[] }> {
    await mkdir(this.stateDir, { recursive: true });
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { pods: [], problems: [] };
      throw new AmbitError('AMBIT_E_CONFIG', `cannot read the pod registry ${this.file}: ${describeError(err)}`, {
        cause: err,
      });
    }
    const problems: string[] = [];
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      return { pods: [], problems: [`${this.file}: not JSON (${(err as Error).message}); starting with no pods`] };
    }
    const list = (doc as { pods?: unknown }).pods;
    if (!Array.isArray(list))
      return { pods: [], problems: [`${this.file}: "pods" is not a list; starting with no pods`] };
    list.forEach((p, i) => {
      try {
        const pod = parsePodInfo(p, `pods[${i}]`);
        this.pods.set(pod.uid, pod);
      } catch (err) {
        problems.push(`${this.file}: ${describeError(err)}`);
      }
    });
    return { pods: [...this.pods.values()], problems };
  }

  get(uid: string): PodInfo | undefined {
    return this.pods.get(uid);
  }
  all(): PodInfo[] {
    return [...this.pods.values()];
  }
  byIp(ip: string): PodInfo | undefined {
    for (const p of this.pods.values()) if (p.ips.includes(ip)) return p;
    return undefined;
  }

  async put(pod: PodInfo): Promise<void> {
    this.pods.set(pod.uid, pod);
    await this.persist();
  }

  async remove(uid: string): Promise<boolean> {
    const had = this.pods.delete(uid);
    if (had) await this.persist();
    return had;
  }

  /**
   * Changes made while a write is running share the one queued after it: the file is written
   * once per burst (pods enrolled 8 at a time), not once per pod with the whole list each time.
   * The body is built when that write starts, so it holds every change made before it.
   */
  private persist(): Promise<void> {
    if (this.queued) return this.queued;
    const next = this.writing
      .catch(() => undefined)
      .then(async () => {
        this.queued = undefined;
        const body = JSON.stringify({ pods: [...this.pods.values()] }, null, 2) + '\n';
        const tmp = `${this.file}.${process.pid}.tmp`;
        await writeFile(tmp, body, { mode: 0o600 });
        await rename(tmp, this.file);
      });
    this.queued = next;
    this.writing = next;
    return next;
  }
}
