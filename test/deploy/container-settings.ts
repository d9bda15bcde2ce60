// Checks a rendered Ambit container against the settings its binary declares: every env
// variable and flag the template sets is one the binary reads, every setting the binary
// requires in the mode the rendered args and env select is there, and every value parses.
import { AGENT_SPEC } from '../../agent/config/settings.js';
import { CNI_INSTALL_SPEC } from '../../cni/install/settings.js';
import { CONTROLLER_SPEC } from '../../controller/settings.js';
import {
  envNames, parseFlags, rawInput, readSettings, requiredIn, namesOf, type ComponentSpec, type SettingMap,
} from '../../core/config/settings.js';
import { WAYPOINT_SPEC } from '../../waypoint/config/settings.js';

export type EnvVar = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } & Record<string, unknown> };
export type Container = {
  name: string; image: string; command?: string[]; args?: string[]; env?: EnvVar[];
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  securityContext?: { readOnlyRootFilesystem?: boolean };
};

export type Component = 'agent' | 'controller' | 'waypoint' | 'cni';

const SPECS: Record<Component, ComponentSpec<SettingMap, string>> = {
  agent: AGENT_SPEC as unknown as ComponentSpec<SettingMap, string>,
  controller: CONTROLLER_SPEC as unknown as ComponentSpec<SettingMap, string>,
  waypoint: WAYPOINT_SPEC as unknown as ComponentSpec<SettingMap, string>,
  cni: CNI_INSTALL_SPEC as unknown as ComponentSpec<SettingMap, string>,
};

/** The Ambit binary an image runs (`<hub>/agent:<tag>` → agent), or undefined for other images. */
export function componentOf(image: string): Component | undefined {
  const name = /\/([^/:]+)(?::[^/]*)?$/.exec(image)?.[1];
  return name && name in SPECS ? (name as Component) : undefined;
}

/** Where a container runs: its pod's namespace and service account. */
export interface PodContext { readonly namespace: string; readonly serviceAccount?: string }

/** What the kubelet would put in for downward-API fields (values only need to parse). */
function downward(fieldPath: string, pod: PodContext): string {
  switch (fieldPath) {
    case 'metadata.namespace': return pod.namespace;
    case 'metadata.name': return 'pod-0';
    case 'spec.nodeName': return 'node-a';
    case 'spec.serviceAccountName': return pod.serviceAccount ?? 'default';
    case 'status.podIP': return '10.1.0.5';
    default: throw new Error(`downward API field ${fieldPath} is not filled in by this check`);
  }
}

export function containerEnv(c: Container, pod: PodContext): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = downward(e.valueFrom.fieldRef.fieldPath, pod);
    else throw new Error(`env ${e.name}: only value and fieldRef are understood by this check`);
  }
  return env;
}

export interface ContainerCheck {
  readonly component: Component;
  readonly mode: string;
  /** Everything wrong, one line each (empty = the container can start as rendered). */
  readonly problems: string[];
  readonly env: Record<string, string>;
  readonly flags: Record<string, string | boolean>;
}

/** `where` names the container in messages (e.g. `DaemonSet/ambit-agent agent`). */
export function checkContainer(where: string, c: Container, pod: PodContext): ContainerCheck | undefined {
  const component = componentOf(c.image);
  if (!component) return undefined;
  const spec = SPECS[component];
  const problems: string[] = [];
  if (c.command) problems.push(`${where}: sets command ${JSON.stringify(c.command)}; the image's entrypoint is the binary`);
  let env: Record<string, string> = {};
  try { env = containerEnv(c, pod); } catch (err) { problems.push(`${where}: ${(err as Error).message}`); }
  const known = envNames(spec.settings);
  for (const name of Object.keys(env)) {
    if (!known.has(name)) problems.push(`${where}: sets ${name}, which ${spec.component} does not read`);
  }
  let args = c.args ?? [];
  let mode: string | undefined;
  if (component === 'cni') {
    mode = args[0];
    if (mode !== 'install' && mode !== 'uninstall') problems.push(`${where}: first argument must be install or uninstall, got ${JSON.stringify(mode)}`);
    args = args.slice(1);
  }
  let flags: Record<string, string | boolean> = {};
  try {
    const parsed = parseFlags(spec.settings, args);
    flags = parsed.flags;
    if (parsed.positionals.length > 0) problems.push(`${where}: unexpected arguments ${JSON.stringify(parsed.positionals)}`);
  } catch (err) {
    problems.push(`${where}: ${(err as Error).message}`);
  }
  const raw = rawInput(spec.settings, { env, flags });
  mode ??= spec.mode(raw);
  for (const s of requiredIn(spec.settings, mode)) {
    const key = Object.keys(spec.settings).find((k) => spec.settings[k] === s)!;
    if (!raw.get(key)) problems.push(`${where}: ${spec.component} in ${mode} mode needs ${namesOf(s).join(' or ')}, which the template does not set`);
  }
  const finalMode = mode;
  try {
    readSettings({ ...spec, mode: () => finalMode }, { env, flags });
  } catch (err) {
    problems.push(`${where}: ${(err as Error).message}`);
  }
  return { component, mode, problems, env, flags };
}

/** True when `file` lies under one of the container's mounts. */
export function mountFor(c: Container, file: string): { name: string; mountPath: string; readOnly?: boolean } | undefined {
  return (c.volumeMounts ?? [])
    .filter((m) => file === m.mountPath || file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
}
