// A ring buffer of scrapes (the newest last) and what the counters did over a time window:
// per series, the newest value minus the value at the window's start (a counter that went
// down was reset: its newest value is what it counted since). The dashboard's 1/5/15-minute
// windows all come from one buffer.
import { seriesKey, type Sample, type Samples } from './metrics-text.js';

export interface Scrape {
  /** ms since the epoch */
  readonly at: number;
  readonly samples: Samples;
}

/** Counter increases over `seconds` (0 when there is only one scrape). */
export interface Deltas {
  readonly seconds: number;
  readonly samples: Samples;
}

export class ScrapeRing {
  private readonly items: Scrape[] = [];

  constructor(private readonly capacity: number) {
    if (capacity < 2) throw new Error('ScrapeRing: capacity must be at least 2');
  }

  push(s: Scrape): void {
    this.items.push(s);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }

  get size(): number {
    return this.items.length;
  }
  latest(): Scrape | undefined {
    return this.items.at(-1);
  }

  /** The oldest scrape no older than `seconds` before the newest one (else the oldest kept). */
  baseline(seconds: number): Scrape | undefined {
    const newest = this.latest();
    if (!newest) return undefined;
    const from = newest.at - seconds * 1000;
    return this.items.find((s) => s.at >= from) ?? this.items[0];
  }

  deltas(seconds: number): Deltas {
    const now = this.latest();
    const base = this.baseline(seconds);
    if (!now || !base || base === now) return { seconds: 0, samples: new Map() };
    return { seconds: (now.at - base.at) / 1000, samples: counterDeltas(base.samples, now.samples) };
  }
}

export function counterDeltas(before: Samples, now: Samples): Samples {
  const out: Samples = new Map();
  for (const [name, list] of now) {
    const old = new Map<string, number>();
    for (const s of before.get(name) ?? []) old.set(seriesKey(s.labels), s.value);
    const deltas: Sample[] = [];
    for (const s of list) {
      const prev = old.get(seriesKey(s.labels));
      // A series born inside the window counted all of its value there.
      const d = prev === undefined ? s.value : s.value >= prev ? s.value - prev : s.value;
      deltas.push({ labels: s.labels, value: d });
    }
    out.set(name, deltas);
  }
  return out;
}
