// The analysis messages, with Istio's codes, names and levels (istio.io "Configuration
// Analysis Messages"), and the Ambit ones for what Ambit does not apply (AMB prefix).
export type Level = 'Error' | 'Warning' | 'Info';

export interface MessageType {
  readonly code: string;
  readonly name: string;
  readonly level: Level;
}

const t = (code: string, name: string, level: Level): MessageType => ({ code, name, level });

export const MSG = {
  ReferencedResourceNotFound: t('IST0101', 'ReferencedResourceNotFound', 'Error'),
  GatewayPortNotDefinedOnService: t('IST0104', 'GatewayPortNotDefinedOnService', 'Warning'),
  SchemaValidationError: t('IST0106', 'SchemaValidationError', 'Error'),
  ConflictingMeshGatewayVirtualServiceHosts: t('IST0109', 'ConflictingMeshGatewayVirtualServiceHosts', 'Error'),
  ConflictingSidecarWorkloadSelectors: t('IST0110', 'ConflictingSidecarWorkloadSelectors', 'Error'),
  MultipleSidecarsWithoutWorkloadSelectors: t('IST0111', 'MultipleSidecarsWithoutWorkloadSelectors', 'Error'),
  NoMatchingWorkloadsFound: t('IST0127', 'NoMatchingWorkloadsFound', 'Warning'),
  NoServerCertificateVerificationDestinationLevel: t(
    'IST0128',
    'NoServerCertificateVerificationDestinationLevel',
    'Warning',
  ),
  NoServerCertificateVerificationPortLevel: t('IST0129', 'NoServerCertificateVerificationPortLevel', 'Warning'),
  VirtualServiceUnreachableRule: t('IST0130', 'VirtualServiceUnreachableRule', 'Warning'),
  VirtualServiceIneffectiveMatch: t('IST0131', 'VirtualServiceIneffectiveMatch', 'Info'),
  VirtualServiceHostNotFoundInGateway: t('IST0132', 'VirtualServiceHostNotFoundInGateway', 'Warning'),
  ServiceEntryAddressesRequired: t('IST0134', 'ServiceEntryAddressesRequired', 'Warning'),
  ConflictingGateways: t('IST0145', 'ConflictingGateways', 'Error'),
  /** Ambit: a kind Ambit reads but does not apply (yet), or never will (EnvoyFilter). */
  UnsupportedKind: t('AMB0001', 'UnsupportedKind', 'Warning'),
  /** Ambit: a field Istio accepts that Ambit ignores. */
  UnsupportedField: t('AMB0002', 'UnsupportedField', 'Warning'),
  /** Ambit: an extension provider kind Ambit cannot call; CUSTOM policies naming it deny. */
  UnsupportedExtensionProvider: t('AMB0003', 'UnsupportedExtensionProvider', 'Error'),
} as const;

export interface Origin {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly file?: string;
  readonly line?: number;
}

export interface Message {
  readonly type: MessageType;
  readonly origin: Origin;
  /** Field path the message is about, when there is one (`spec.http[1]`). */
  readonly field?: string;
  readonly text: string;
}

const LEVEL_RANK: Record<Level, number> = { Info: 0, Warning: 1, Error: 2 };

export function atLeast(level: Level, threshold: Level): boolean {
  return LEVEL_RANK[level] >= LEVEL_RANK[threshold];
}

export function isLevel(v: string): v is Level {
  return v === 'Error' || v === 'Warning' || v === 'Info';
}

/** `VirtualService shop/reviews`, as istioctl names a resource. */
export function originName(o: Origin): string {
  return `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
}

/** istioctl's line: `Error [IST0101] (VirtualService shop/reviews file.yaml:3) text`. */
export function formatMessage(m: Message): string {
  const where = m.origin.file ? ` ${m.origin.file}${m.origin.line ? `:${m.origin.line}` : ''}` : '';
  return `${m.type.level} [${m.type.code}] (${originName(m.origin)}${where}) ${m.text}`;
}

/** The JSON/YAML shape of `istioctl analyze -o json|yaml`. */
export function messageRecord(m: Message): Record<string, unknown> {
  return {
    code: m.type.code,
    documentationUrl: m.type.code.startsWith('IST')
      ? `https://istio.io/latest/docs/reference/config/analysis/${m.type.code.toLowerCase()}/?ref=ambitctl`
      : 'README.md#istio-fields-ambit-does-not-support',
    level: m.type.level,
    message: m.text,
    origin: originName(m.origin),
    ...(m.field ? { field: m.field } : {}),
    ...(m.origin.file ? { reference: `${m.origin.file}${m.origin.line ? `:${m.origin.line}` : ''}` } : {}),
  };
}
