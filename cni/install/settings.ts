// `ambit-cni install|uninstall` settings: every flag the installer reads, declared once for
// the binary and the chart test. The CNI plugin itself takes its settings from the CNI
// runtime (CNI_* variables and the network config), not from here.
import {
  COMMON_SETTINGS,
  parse,
  parseFlags,
  readSettings,
  setting,
  type ComponentSpec,
  type Env,
} from '../../core/config/settings.js';
import { DEFAULT_BIN_DIR, DEFAULT_CONF_DIR } from './install.js';

export type InstallerCommand = 'install' | 'uninstall';

// A declaration table: entries look alike by design (flag, env, default, parse, doc); duplicates reports them as shape.
export const CNI_INSTALL_SETTINGS = {
  ...COMMON_SETTINGS,
  binDir: setting<string>({
    flag: '--bin-dir',
    default: DEFAULT_BIN_DIR,
    parse: parse.string,
    doc: "the node's CNI plugin folder (mounted from the host)",
  }),
  confDir: setting<string>({
    flag: '--conf-dir',
    default: DEFAULT_CONF_DIR,
    parse: parse.string,
    doc: "the node's CNI config folder; the first conflist gets ambit-cni chained in",
  }),
  agentSocket: setting<string | undefined>({
    flag: '--agent-socket',
    default: undefined,
    parse: parse.string,
    doc: "the agent's enrolment socket, written into the plugin config",
  }),
  plugin: setting<string | undefined>({
    flag: '--plugin',
    default: undefined,
    parse: parse.string,
    doc: 'the plugin executable to copy (default: this program)',
  }),
  nodeTaint: setting<string | undefined>({
    flag: '--node-taint',
    default: undefined,
    parse: parse.string,
    doc: 'with --watch: remove this taint from the node once the plugin is chained and the agent answers',
  }),
  nodeName: setting<string | undefined>({
    env: 'AMBIT_NODE_NAME',
    default: undefined,
    parse: parse.string,
    doc: 'the node this installer runs on (downward API spec.nodeName); the only node whose taint it removes',
  }),
  kubernetesServiceHost: setting<string | undefined>({
    env: 'KUBERNETES_SERVICE_HOST',
    default: undefined,
    parse: parse.string,
    doc: "set by the kubelet: --node-taint uses the pod's service account",
  }),
  kubernetesServicePort: setting<string>({
    env: 'KUBERNETES_SERVICE_PORT',
    default: '443',
    parse: parse.string,
    doc: 'set by the kubelet',
  }),
  watch: setting<boolean>({
    flag: '--watch',
    switch: true,
    default: false,
    parse: parse.boolean,
    doc: 'keep running: re-insert the plugin when the conflist is rewritten, remove it on SIGTERM',
  }),
};

export const CNI_INSTALL_SPEC: ComponentSpec<typeof CNI_INSTALL_SETTINGS, InstallerCommand> = {
  component: 'ambit-cni',
  modes: ['install', 'uninstall'],
  settings: CNI_INSTALL_SETTINGS,
  // The subcommand is not a setting; readInstallerSettings passes it through `mode`.
  mode: () => 'install',
};

/** `argv` starts with the subcommand; unknown options throw (AMBIT_E_CONFIG). */
export function readInstallerSettings(argv: readonly string[], env: Env = {}) {
  const [command, ...rest] = argv;
  if (command !== 'install' && command !== 'uninstall')
    throw new Error(`unknown command "${command ?? ''}" (install or uninstall)`);
  const { flags, positionals } = parseFlags(CNI_INSTALL_SETTINGS, rest);
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0]}"`);
  return { ...readSettings({ ...CNI_INSTALL_SPEC, mode: () => command }, { env, flags }), command };
}
