// The V8 flags the agent runs with. V8 sizes its heap when the process starts, so these must
// be on node's command line: the agent's launchers pass them (the image's ENTRYPOINT,
// ambitctl local up, the benches), and agent/node-flags.test.ts holds the Dockerfile to this list.
//
// --max-semi-space-size=1: the young generation stays at 1 MiB semi-spaces instead of growing
// to 16 MiB each. The agent's allocations are short-lived (per connection, per chunk), and V8
// keeps the pages a grown young generation once touched: measured with the pods bench
// (bench/README.md), the RSS growth per enrolled pod fell from ~65 to ~22 KiB.
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
