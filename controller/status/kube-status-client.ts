// The StatusClient over the API server's REST interface: PUT of the status subresource with
// the connection settings (server, TLS, credentials) of a @kubernetes/client-node KubeConfig.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { AmbitError } from '../../core/errors.js';
import type { KubeObject } from '../sources/types.js';
import type { StatusTarget } from './desired.js';
import { StatusWriteError, type StatusClient } from './writer.js';

export function statusPath(t: StatusTarget): string {
  const ns = encodeURIComponent(t.namespace);
  return `/apis/${t.apiVersion}/namespaces/${ns}/${t.plural}/${encodeURIComponent(t.name)}/status`;
}

export function restStatusClient(kc: KubeConfig): StatusClient {
  return {
    async replaceStatus(target: StatusTarget, object: KubeObject): Promise<void> {
      const server = kc.getCurrentCluster()?.server;
      if (!server)
        throw new AmbitError('AMBIT_E_CONFIG', 'kubeconfig has no current cluster', {
          hint: 'set KUBECONFIG or run in a pod',
        });
      const url = new URL(server.replace(/\/$/, '') + statusPath(target));
      const body = JSON.stringify(object);
      const opts: https.RequestOptions = {
        method: 'PUT',
        headers: { accept: 'application/json', 'content-type': 'application/json' },
      };
      await kc.applyToHTTPSOptions(opts);
      const answer = await new Promise<{ code: number; text: string }>((resolve, reject) => {
        const req = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c.length + text.length <= 4096 ? c : ''));
          res.on('end', () => resolve({ code: res.statusCode ?? 0, text }));
          res.on('error', reject);
        });
        req.setTimeout(30_000, () => req.destroy(new Error('status write timed out')));
        req.on('error', reject);
        req.end(body);
      });
      if (answer.code === 200 || answer.code === 201) return;
      let message = answer.text.slice(0, 300);
      try {
        message = String((JSON.parse(answer.text) as { message?: unknown }).message ?? message);
      } catch {
        // not JSON: the raw text
      }
      throw new StatusWriteError(answer.code, `PUT ${url.pathname}: ${answer.code} ${message}`);
    },
  };
}
