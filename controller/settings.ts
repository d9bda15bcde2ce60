// `ambit-controller` settings: every flag and environment variable the controller reads,
// declared once. main.ts builds its commander program from these declarations; the chart
// test and `ambitctl local` use them too. A flag wins over its environment variable.
import { hostname } from 'node:os';
import { Command, Option } from 'commander';
import {
  COMMON_SETTINGS,
  parse,
  readSettings,
  setting,
  type ComponentSpec,
  type Env,
} from '../core/config/settings.js';
import { spiffeIdFor } from '../core/identity/spiffe.js';

export type ControllerSource = 'kube' | 'file';

// A declaration table: entries look alike by design (flag, env, default, parse, doc); duplicates reports them as shape.
export const CONTROLLER_SETTINGS = {
  ...COMMON_SETTINGS,
  source: setting<ControllerSource>({
    flag: '--source',
    default: 'kube',
    parse: parse.oneOf('kube', 'file'),
    doc: 'where objects come from: the Kubernetes API or a folder of YAML',
  }),
  configDir: setting<string | undefined>({
    flag: '--config-dir',
    default: undefined,
    parse: parse.string,
    requiredIn: ['file'],
    doc: 'file source: folder of YAML manifests',
  }),
  stateDir: setting<string>({
    flag: '--state-dir',
    env: 'AMBIT_STATE_DIR',
    default: '/var/lib/ambit/controller',
    parse: parse.string,
    doc: 'CA root and key (Istio cacerts layout; kube mode: mirrored from the cacerts or ambit-ca Secret), node tokens; must be writable',
  }),
  trustDomain: setting<string>({
    flag: '--trust-domain',
    env: 'AMBIT_TRUST_DOMAIN',
    default: 'cluster.local',
    parse: parse.trustDomain,
    doc: 'SPIFFE trust domain',
  }),
  nodeName: setting<string>({
    flag: '--node-name',
    env: 'AMBIT_NODE_NAME',
    default: hostname(),
    parse: parse.string,
    doc: "file mode: this machine's node (pods without spec.nodeName run here)",
  }),
  nodeTokenFile: setting<string | undefined>({
    flag: '--node-token-file',
    default: undefined,
    parse: parse.string,
    doc: 'file mode: "<token> <node>" lines authenticating agents (default <state-dir>/node-tokens)',
  }),
  namespace: setting<string>({
    flag: '--namespace',
    env: 'POD_NAMESPACE',
    aliases: ['AMBIT_NAMESPACE'],
    default: 'ambit-system',
    parse: parse.string,
    doc: "the controller's namespace: CA Secrets (cacerts, ambit-ca), mesh ConfigMap istio, root ConfigMap, waypoint template; part of its identity",
  }),
  serviceAccount: setting<string>({
    env: 'SERVICE_ACCOUNT',
    default: 'ambit-controller',
    parse: parse.string,
    doc: "the controller's service account: its identity is spiffe://<td>/ns/<namespace>/sa/<service account>",
  }),
  tokenAudience: setting<string>({
    flag: '--token-audience',
    env: 'AMBIT_TOKEN_AUDIENCE',
    default: 'ambit-ca',
    parse: parse.string,
    doc: 'kube mode: the audience the service-account tokens of agents and waypoints must carry (TokenReview audiences)',
  }),
  host: setting<string>({
    flag: '--host',
    env: 'AMBIT_CONTROLLER_HOST',
    default: '0.0.0.0',
    parse: parse.string,
    doc: 'address to listen on',
  }),
  grpcPort: setting<number>({
    flag: '--grpc-port',
    env: 'AMBIT_GRPC_PORT',
    default: 15012,
    parse: parse.port,
    doc: 'discovery + CA (TLS)',
  }),
  metricsPort: setting<number>({
    flag: '--metrics-port',
    env: 'AMBIT_METRICS_PORT',
    default: 15014,
    parse: parse.port,
    doc: 'Prometheus /metrics',
  }),
  readyPort: setting<number>({
    flag: '--ready-port',
    env: 'AMBIT_READY_PORT',
    default: 15021,
    parse: parse.port,
    doc: '/healthz/ready',
  }),
  kubeconfig: setting<string | undefined>({
    env: 'KUBECONFIG',
    default: undefined,
    parse: parse.string,
    doc: 'kube mode outside a pod: the kubeconfig (in a pod: the service account)',
  }),
  kubernetesServiceHost: setting<string | undefined>({
    env: 'KUBERNETES_SERVICE_HOST',
    default: undefined,
    parse: parse.string,
    doc: "set by the kubelet: kube mode uses the pod's service account",
  }),
};

export const CONTROLLER_SPEC: ComponentSpec<typeof CONTROLLER_SETTINGS, ControllerSource> = {
  component: 'ambit-controller',
  modes: ['kube', 'file'],
  settings: CONTROLLER_SETTINGS,
  mode: (raw) => (raw.get('source')?.raw === 'file' ? 'file' : 'kube'),
};

export type ControllerSettings = ReturnType<typeof controllerSettings>;

export function controllerSettings(
  flags: Readonly<Record<string, string | boolean | undefined>>,
  env: Env = process.env,
) {
  const v = readSettings(CONTROLLER_SPEC, { env, flags });
  return { ...v, identity: spiffeIdFor(v.trustDomain, v.namespace, v.serviceAccount) };
}

/** The commander program: one option per declared flag; `run` gets the checked settings. */
export function controllerProgram(
  run: (settings: ControllerSettings) => Promise<void>,
  env: Env = process.env,
): Command {
  const program = new Command('ambit-controller').description(
    'Ambit control plane: translate mesh config, push it to agents and waypoints, sign their certificates',
  );
  const byAttribute = new Map<string, string>();
  for (const s of Object.values(CONTROLLER_SETTINGS)) {
    if (!s.flag) continue;
    const extra = [s.env ? `env ${s.env}` : '', s.default !== undefined ? `default ${String(s.default)}` : '']
      .filter(Boolean)
      .join(', ');
    const option = new Option(s.switch ? s.flag : `${s.flag} <value>`, extra ? `${s.doc} (${extra})` : s.doc);
    byAttribute.set(option.attributeName(), s.flag);
    program.addOption(option);
  }
  return program.action(async (opts: Record<string, string | undefined>) => {
    const flags: Record<string, string | undefined> = {};
    for (const [attribute, value] of Object.entries(opts)) flags[byAttribute.get(attribute) ?? attribute] = value;
    await run(controllerSettings(flags, env));
  });
}
