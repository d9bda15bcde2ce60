// `ambitctl local exec [-n NS] POD -- CMD...`: run CMD in that pod's network namespace (and
// with its /etc/hosts), like `kubectl exec`. POD may name a Deployment: its first replica.
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { AmbitError } from '../../core/errors.js';
import { insideUserNamespace, nsenterPrefix } from './rootless.js';
import { readRecord, type LocalRecord } from './state.js';

export function findPod(record: LocalRecord, name: string, namespace?: string): LocalRecord['planned'][number] {
  const inNs = record.planned.filter((p) => namespace === undefined || p.namespace === namespace);
  const hits = inNs.filter((p) => p.name === name);
  const found = hits.length > 0 ? hits : inNs.filter((p) => p.name === `${name}-0`);
  if (found.length === 1) return found[0]!;
  if (found.length > 1)
    throw new AmbitError(
      'AMBIT_E_CONFIG',
      `pod "${name}" exists in several namespaces (${found.map((p) => p.namespace).join(', ')})`,
      { hint: 'pick one with -n NAMESPACE' },
    );
  throw new AmbitError(
    'AMBIT_E_CONFIG',
    `no pod "${name}"${namespace ? ` in namespace ${namespace}` : ''}; pods: ${inNs.map((p) => `${p.namespace}/${p.name}`).join(', ') || 'none'}`,
  );
}

export async function localExec(
  stateDir: string,
  pod: string,
  argv: readonly string[],
  namespace?: string,
): Promise<number> {
  const record = await readRecord(stateDir);
  if (!record)
    throw new AmbitError('AMBIT_E_CONFIG', `no local mesh running from ${stateDir}`, {
      hint: 'start one with `ambitctl local up -f DIR` (or pass --state-dir)',
    });
  if (argv.length === 0)
    throw new AmbitError('AMBIT_E_CONFIG', 'no command given', {
      hint: 'ambitctl local exec POD -- curl -s http://payment-service:8080/',
    });
  const p = findPod(record, pod, namespace);
  if (!record.pods.some((x) => x.netnsName === p.netnsName))
    throw new AmbitError('AMBIT_E_CONFIG', `pod ${p.namespace}/${p.name} is not running yet`);
  const inner = ['ip', 'netns', 'exec', p.netnsName, ...argv];
  // Rootless: the netns mounts live in the mesh's private mount namespace.
  const full = record.userns && !insideUserNamespace() ? [...nsenterPrefix(record.userns.pid), ...inner] : inner;
  const child = spawn(full[0]!, full.slice(1), { stdio: 'inherit', cwd: record.dir });
  return new Promise((resolve) => {
    child.on('error', (err) => {
      console.error(`ip netns exec: ${err.message}`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

export function register(local: Command, defaults: { stateDir: string }): void {
  local
    .command('exec')
    .description("run a command inside a pod's network namespace (like kubectl exec)")
    .argument('<pod>', 'pod name (or a Deployment name: its first replica)')
    .argument('<command...>', 'the command, after --')
    .option('-n, --namespace <ns>', "the pod's namespace")
    .option('--state-dir <dir>', 'state dir of the local mesh', defaults.stateDir)
    .action(async (pod: string, command: string[], opts: { namespace?: string; stateDir: string }) => {
      process.exitCode = await localExec(opts.stateDir, pod, command, opts.namespace);
    });
}
