// The CA service reads requests before it authenticates them, so their size is bounded to
// 1 MiB (a CSR is under 1 KiB). Discovery shares the gRPC server and needs larger requests
// (an agent reconnecting lists every resource it holds), and grpc-js has one receive limit
// per server: this interceptor narrows it for CertificateService calls only.
//
// grpc-js (1.14) hands the first interceptor the call that owns the stream decoder, before
// any data frame is read; its length check runs on each message's 5-byte prefix, so an
// oversized request is refused (RESOURCE_EXHAUSTED) before its body is buffered. The fields
// are internal: when they are absent (another grpc-js), `narrowed` is false and the limit
// is left to the server's own, and the CSR size check in core/identity/csr.ts.
import * as grpc from '@grpc/grpc-js';
import { CERTIFICATE_SERVICE } from '../../core/identity/ca-proto.js';
import { createLogger } from '../../core/log.js';

export const CA_MAX_REQUEST_BYTES = 1024 * 1024;

interface BaseCallInternals {
  maxReceiveMessageSize?: unknown;
  decoder?: { maxReadMessageLength?: unknown };
}

/** Lowers the receive limit of one call; false when grpc-js does not expose what this needs. */
export function narrowReceiveLimit(call: grpc.ServerInterceptingCallInterface, limit: number): boolean {
  const base = call as unknown as BaseCallInternals;
  if (typeof base.maxReceiveMessageSize !== 'number' || typeof base.decoder?.maxReadMessageLength !== 'number')
    return false;
  const current = base.maxReceiveMessageSize;
  const bounded = current === -1 ? limit : Math.min(current, limit);
  base.maxReceiveMessageSize = bounded;
  base.decoder.maxReadMessageLength = bounded;
  return true;
}

/** A server interceptor (put it first) limiting CertificateService requests to `limit` bytes. */
export function caRequestLimit(limit = CA_MAX_REQUEST_BYTES): grpc.ServerInterceptor {
  const prefix = `/${CERTIFICATE_SERVICE}/`;
  let warned = false;
  return (method, call) => {
    if (method.path.startsWith(prefix) && !narrowReceiveLimit(call, limit) && !warned) {
      warned = true;
      createLogger('controller', { component: 'ca' }).warn(
        'cannot narrow the gRPC receive limit of the CA service (grpc-js internals changed); ' +
          'the server-wide limit applies',
        { limit },
      );
    }
    return new grpc.ServerInterceptingCall(call);
  };
}
