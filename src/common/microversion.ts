import { BadRequest, NotAcceptable } from './errors.js';

/** An API microversion such as 2.53 (compute) or 3.27 (volume). */
export class Microversion {
  constructor(
    readonly major: number,
    readonly minor: number,
  ) {}

  static parse(text: string): Microversion {
    const m = /^([1-9]\d*)\.(0|[1-9]\d*)$/.exec(text.trim());
    if (!m)
      throw new BadRequest(
        `API Version String ${text} is of invalid format. Must be of format MajorNum.MinorNum.`,
      );
    return new Microversion(Number(m[1]), Number(m[2]));
  }

  compare(other: Microversion | string): number {
    const o = typeof other === 'string' ? Microversion.parse(other) : other;
    return this.major - o.major || this.minor - o.minor;
  }
  /** True when this >= v. */
  atLeast(v: string): boolean {
    return this.compare(v) >= 0;
  }
  /** True when min <= this <= max (either bound may be omitted). */
  within(min?: string, max?: string): boolean {
    return (!min || this.compare(min) >= 0) && (!max || this.compare(max) <= 0);
  }
  toString(): string {
    return `${this.major}.${this.minor}`;
  }
}

export interface MicroversionPolicy {
  /** Name in the OpenStack-API-Version header: "compute" or "volume". */
  service: string;
  /** Legacy header, e.g. X-OpenStack-Nova-API-Version; read when the new header names no version for us. */
  legacyHeader?: string;
  min: string;
  max: string;
}

/**
 * The requested microversion: OpenStack-API-Version ("compute 2.53", possibly a comma list) first, then the
 * legacy header; none means the minimum; "latest" the maximum; outside [min, max] is 406 as Nova answers.
 */
export function negotiateMicroversion(
  policy: MicroversionPolicy,
  header: (name: string) => string | undefined,
): Microversion {
  let requested: string | undefined;
  const generic = header('openstack-api-version');
  if (generic) {
    for (const part of generic.split(',')) {
      const [svc, ver] = part.trim().split(/\s+/, 2);
      if (svc?.toLowerCase() === policy.service && ver) requested = ver;
    }
  }
  if (requested === undefined && policy.legacyHeader) requested = header(policy.legacyHeader.toLowerCase());
  const min = Microversion.parse(policy.min);
  const max = Microversion.parse(policy.max);
  if (requested === undefined || requested.trim() === '') return min;
  if (requested.trim().toLowerCase() === 'latest') return max;
  const v = Microversion.parse(requested);
  if (v.compare(min) < 0 || v.compare(max) > 0) {
    throw new NotAcceptable(
      `Version ${v} is not supported by the API. Minimum is ${min} and maximum is ${max}.`,
    );
  }
  return v;
}

/** Response headers that echo the negotiated version, as Nova and Cinder send them. */
export function microversionHeaders(policy: MicroversionPolicy, v: Microversion): Record<string, string> {
  const headers: Record<string, string> = { 'OpenStack-API-Version': `${policy.service} ${v}` };
  const vary = ['OpenStack-API-Version'];
  if (policy.legacyHeader) {
    headers[policy.legacyHeader] = String(v);
    vary.push(policy.legacyHeader);
  }
  headers.Vary = vary.join(', ');
  return headers;
}
