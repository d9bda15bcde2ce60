// ADD / DEL / CHECK / VERSION of the ambit-cni chained plugin. The agent decides enrolment;
// the plugin writes the capture rules for an enrolled pod, hands the pod to the agent, and
// on any failure leaves the pod's netns exactly as it found it.
import { describeError } from '../../core/errors.js';
import { enrolmentRequest, type EnrolmentRequest, type EnrolmentResponse } from '../../core/enrolment/index.js';
import { createLogger, type Logger } from '../../core/log.js';
import {
  checkCapture,
  familiesOf,
  installCapture,
  removeCapture,
  sameState,
  snapshot,
  type NetnsState,
} from '../iptables/capture.js';
import type { CaptureOptions } from '../iptables/rules.js';
import { netnsExists } from '../netns/run.js';
import {
  compareVersions,
  parseConfig,
  parseEnv,
  podIps,
  podRef,
  SUPPORTED_VERSIONS,
  type CniEnv,
  type PluginConfig,
  type PodRef,
} from './config.js';
import { CNI_CODES, CniError } from './errors.js';

const QUERY_TIMEOUT_MS = 5_000;

export interface CniOutcome {
  stdout: string;
  exitCode: number;
}

/** Run one plugin invocation: `env` is process.env, `stdin` the network config. */
export async function runCni(env: NodeJS.ProcessEnv, stdin: string): Promise<CniOutcome> {
  const log = createLogger('ambit-cni', { containerId: env.CNI_CONTAINERID, command: env.CNI_COMMAND });
  let version = lenientVersion(stdin);
  try {
    const cniEnv = parseEnv(env);
    if (cniEnv.command === 'VERSION') {
      const asked = SUPPORTED_VERSIONS.includes(version as (typeof SUPPORTED_VERSIONS)[number]) ? version : '1.0.0';
      return ok({ cniVersion: asked, supportedVersions: [...SUPPORTED_VERSIONS] });
    }
    const conf = parseConfig(stdin);
    version = conf.cniVersion;
    switch (cniEnv.command) {
      case 'ADD':
        return ok(await add(conf, cniEnv, log));
      case 'DEL':
        await del(conf, cniEnv, log);
        return { stdout: '', exitCode: 0 };
      case 'CHECK':
        await check(conf, cniEnv);
        return { stdout: '', exitCode: 0 };
    }
  } catch (err) {
    const cniErr =
      err instanceof CniError
        ? err
        : new CniError(CNI_CODES.IO_FAILURE, 'ambit-cni internal error', describeError(err));
    log.error('CNI command failed', { code: cniErr.code, err: cniErr.message, details: cniErr.details });
    return { stdout: JSON.stringify(cniErr.toResult(version)) + '\n', exitCode: 1 };
  }
}

function ok(result: unknown): CniOutcome {
  return { stdout: JSON.stringify(result) + '\n', exitCode: 0 };
}

/** cniVersion for error output even when the config is otherwise unusable. */
function lenientVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if (typeof v === 'string' && v !== '') return v;
  } catch {
    /* not JSON */
  }
  return '1.0.0';
}

function requirePrevResult(conf: PluginConfig): Record<string, unknown> {
  if (!conf.prevResult) {
    throw new CniError(
      CNI_CODES.INVALID_CONFIG,
      'ambit-cni must be chained after a plugin that creates the pod interface (no prevResult)',
      'put {"type":"ambit-cni"} at the end of the plugins list of the conflist',
    );
  }
  return conf.prevResult;
}

async function ask(conf: PluginConfig, req: EnrolmentRequest, timeoutMs: number): Promise<EnrolmentResponse> {
  try {
    return await enrolmentRequest(conf.agentSocket, req, timeoutMs);
  } catch (err) {
    throw new CniError(CNI_CODES.TRY_AGAIN_LATER, `cannot reach the ambit agent for ${req.op}`, describeError(err));
  }
}

/** The agent's answer for a pod: captured or not, and whether its DNS is (absent from an older agent: yes). */
async function enrolment(conf: PluginConfig, pod: PodRef): Promise<{ enrolled: boolean; capture: CaptureOptions }> {
  const res = await ask(conf, { op: 'query', namespace: pod.namespace, name: pod.name }, QUERY_TIMEOUT_MS);
  if (!res.ok) {
    // Fail closed: the pod is left as it was and the kubelet retries the ADD.
    if (res.retry)
      throw new CniError(
        CNI_CODES.TRY_AGAIN_LATER,
        `the ambit agent cannot decide enrolment of ${pod.namespace}/${pod.name} yet; try again later`,
        res.error,
      );
    throw new CniError(
      CNI_CODES.AGENT_REFUSED,
      `the ambit agent could not decide enrolment of ${pod.namespace}/${pod.name}`,
      res.error,
    );
  }
  return { enrolled: res.enrolled === true, capture: { dns: res.dnsCapture !== false } };
}

async function add(conf: PluginConfig, env: CniEnv, log: Logger): Promise<Record<string, unknown>> {
  const prev = requirePrevResult(conf);
  const result = { ...prev, cniVersion: conf.cniVersion };
  const pod = podRef(env);
  if (!pod) {
    log.info('not a Kubernetes pod (no K8S_POD_NAMESPACE/K8S_POD_NAME in CNI_ARGS); passing through');
    return result;
  }
  const answer = await enrolment(conf, pod);
  if (!answer.enrolled) return result;

  if (!(await netnsExists(env.netns)))
    throw new CniError(CNI_CODES.UNKNOWN_CONTAINER, `network namespace ${env.netns} does not exist`);
  const ips = podIps(prev, env.netns);
  if (ips.length === 0)
    throw new CniError(
      CNI_CODES.INVALID_CONFIG,
      `prevResult has no IP address in ${env.netns} for ${pod.namespace}/${pod.name}`,
    );

  const before = await snapshot(env.netns).catch((err: unknown) => {
    throw new CniError(CNI_CODES.RULES_FAILED, `cannot read the state of ${env.netns}`, describeError(err));
  });
  try {
    await installCapture(env.netns, familiesOf(ips), answer.capture);
  } catch (err) {
    throw await rollback(
      env.netns,
      before,
      new CniError(CNI_CODES.RULES_FAILED, `cannot write the capture rules in ${env.netns}`, describeError(err)),
    );
  }

  const podInfo = { uid: pod.uid, name: pod.name, namespace: pod.namespace, netnsPath: env.netns, ips };
  let res: EnrolmentResponse;
  try {
    res = await enrolmentRequest(conf.agentSocket, { op: 'add', pod: podInfo }, conf.addTimeoutMs);
  } catch (err) {
    // The agent may still finish the add after our timeout: tell it to forget the pod.
    await enrolmentRequest(
      conf.agentSocket,
      { op: 'delete', uid: pod.uid, netnsPath: env.netns },
      QUERY_TIMEOUT_MS,
    ).catch(() => undefined);
    throw await rollback(
      env.netns,
      before,
      new CniError(
        CNI_CODES.TRY_AGAIN_LATER,
        `the ambit agent did not enrol ${pod.namespace}/${pod.name}`,
        describeError(err),
      ),
    );
  }
  if (!res.ok) {
    const refused = res.retry
      ? new CniError(
          CNI_CODES.TRY_AGAIN_LATER,
          `the ambit agent cannot enrol ${pod.namespace}/${pod.name} yet; try again later`,
          res.error,
        )
      : new CniError(
          CNI_CODES.AGENT_REFUSED,
          `the ambit agent refused to enrol ${pod.namespace}/${pod.name}`,
          res.error,
        );
    throw await rollback(env.netns, before, refused);
  }
  log.info('pod enrolled', { pod: `${pod.namespace}/${pod.name}`, uid: pod.uid, ips });
  return result;
}

/** Undo installCapture and verify the netns is back to `before`; returns the error to throw. */
async function rollback(netns: string, before: NetnsState, cause: CniError): Promise<CniError> {
  const failures = await removeCapture(netns, before).catch((err: unknown) => [describeError(err)]);
  const restored = failures.length === 0 && (await sameState(netns, before).catch(() => false));
  if (restored) return cause;
  const detail = failures.length ? failures.join('; ') : 'state differs after removal';
  return new CniError(
    cause.code,
    cause.message,
    `${cause.details}; WARNING: ${netns} could not be restored: ${detail}`,
  );
}

async function del(conf: PluginConfig, env: CniEnv, log: Logger): Promise<void> {
  const pod = podRef(env);
  if (!pod) return;
  // The agent first: its listeners close before the rules go, so nothing escapes the mesh.
  const req = { op: 'delete' as const, uid: pod.uid, ...(env.netns ? { netnsPath: env.netns } : {}) };
  try {
    const res = await enrolmentRequest(conf.agentSocket, req, QUERY_TIMEOUT_MS);
    if (!res.ok) log.warn('the ambit agent failed to remove the pod', { uid: pod.uid, err: res.error });
  } catch (err) {
    // Never block pod deletion on the agent: a restarted agent drops pods whose netns is gone.
    log.warn('cannot reach the ambit agent for DEL; continuing', { uid: pod.uid, err: describeError(err) });
  }
  if (!env.netns || !(await netnsExists(env.netns))) return;
  const failures = await removeCapture(env.netns);
  if (failures.length)
    throw new CniError(
      CNI_CODES.RULES_FAILED,
      `cannot remove the capture rules from ${env.netns}`,
      failures.join('; '),
    );
}

async function check(conf: PluginConfig, env: CniEnv): Promise<void> {
  if (compareVersions(conf.cniVersion, '0.4.0') < 0) {
    throw new CniError(
      CNI_CODES.INCOMPATIBLE_VERSION,
      `CHECK is not supported for cniVersion ${conf.cniVersion}`,
      'CHECK needs 0.4.0 or later',
    );
  }
  const prev = requirePrevResult(conf);
  const pod = podRef(env);
  const answer = pod ? await enrolment(conf, pod) : undefined;
  if (!pod || !answer?.enrolled) return;
  if (!(await netnsExists(env.netns)))
    throw new CniError(CNI_CODES.UNKNOWN_CONTAINER, `network namespace ${env.netns} does not exist`);
  const problems = await checkCapture(env.netns, familiesOf(podIps(prev, env.netns)), answer.capture).catch(
    (err: unknown) => [describeError(err)],
  );
  const listed = await ask(conf, { op: 'list' }, QUERY_TIMEOUT_MS);
  if (listed.ok && !(listed.pods ?? []).some((p) => p.uid === pod.uid))
    problems.push(`the ambit agent does not hold pod ${pod.uid}`);
  if (problems.length)
    throw new CniError(
      CNI_CODES.CHECK_FAILED,
      `capture of ${pod.namespace}/${pod.name} is incomplete`,
      problems.join('; '),
    );
}
