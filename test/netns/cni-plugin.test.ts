// ambit-cni (the TS build, bundled by the chain helper) in a real CNI chain; the cases are
// in test/support/cni-plugin-suite.ts, shared with the single-executable run in test/deploy/sea-cni.test.ts.
import { cniPluginSuite } from '../support/cni-plugin-suite.js';

cniPluginSuite('ambit-cni in a real CNI chain', {
  tag: 'h4',
  bridges: ['ambt-h4-br0', 'ambt-h4-br3'],
  subnets: ['10.231.40.0/24', '10.231.43.0/24'],
  subnet6: 'fd00:a4:43::/64',
});
