// Istio's four TCP metrics kept as plain numbers per bound label set (like http-family.ts), so
// that Telemetry API overrides can change each metric's labels at scrape time. A series is
// exported from its connection's start, at 0 for what has not happened yet (rate() then sees
// the first increment).
import { LeanCounter } from './http-family.js';
import type { MetricsView } from './projection.js';

export interface TcpSeriesState {
  readonly labels: Readonly<Record<string, string>>;
  readonly view?: MetricsView;
  readonly extras?: Readonly<Record<string, string>>;
  opened: number;
  closed: number;
  sent: number;
  received: number;
}

export class TcpFamily {
  private readonly states: TcpSeriesState[] = [];
  readonly metrics: ReadonlyArray<LeanCounter<TcpSeriesState>>;

  constructor() {
    const states = (): readonly TcpSeriesState[] => this.states;
    const reset = (): void => {
      for (const s of this.states) s.opened = s.closed = s.sent = s.received = 0;
    };
    const counter = (name: string, help: string, pick: (s: TcpSeriesState) => number) =>
      new LeanCounter<TcpSeriesState>(name, help, states, pick, reset, true);
    this.metrics = [
      counter('istio_tcp_connections_opened_total', 'Total number of TCP connections opened', (s) => s.opened),
      counter('istio_tcp_connections_closed_total', 'Total number of TCP connections closed', (s) => s.closed),
      counter('istio_tcp_sent_bytes_total', 'Total bytes sent in response to a TCP connection', (s) => s.sent),
      counter('istio_tcp_received_bytes_total', 'Total bytes received in a TCP connection', (s) => s.received),
    ];
  }

  bind(
    labels: Readonly<Record<string, string>>,
    view?: MetricsView,
    extras?: Readonly<Record<string, string>>,
  ): TcpSeriesState {
    const s: TcpSeriesState = {
      labels: { ...labels },
      ...(view && !view.isIdentity ? { view, ...(extras ? { extras } : {}) } : {}),
      opened: 0,
      closed: 0,
      sent: 0,
      received: 0,
    };
    this.states.push(s);
    return s;
  }
}
