// CNI ↔ agent enrolment protocol (see proto/enrolment.md).
export {
  DEFAULT_AGENT_SOCKET,
  MAX_LINE_BYTES,
  MalformedMessageError,
  RetryLater,
  encodeLine,
  parsePodInfo,
  parseRequest,
  parseResponse,
  type EnrolmentHandler,
  type EnrolmentQuery,
  type EnrolmentRequest,
  type EnrolmentResponse,
  type PodInfo,
  type QueryAnswer,
} from './protocol.js';
export { startEnrolmentServer, type EnrolmentServer, type EnrolmentServerOptions } from './server.js';
export { DEFAULT_REQUEST_TIMEOUT_MS, enrolmentRequest } from './client.js';
