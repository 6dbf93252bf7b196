import { randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import type { AuthContext, TokenValidator } from '../../common/context.js';
import { Unauthorized } from '../../common/errors.js';
import type { KeyRepository } from './keys.js';
import type { RevocationList } from './revocation.js';

/** The claims of a kvmstack token: Keystone's JWS claims plus the roles, so validation needs no database. */
interface TokenClaims extends JWTPayload {
  sub: string;
  openstack_methods: string[];
  openstack_audit_ids: string[];
  openstack_user_domain_id: string;
  openstack_project_id?: string;
  openstack_project_domain_id?: string;
  openstack_domain_id?: string;
  openstack_roles: [string, string][];
  openstack_app_cred_id?: string;
  openstack_app_cred_restricted?: boolean;
  /** issued-at in ms: iat has whole seconds only, too coarse for revocation by time. */
  openstack_iat_ms: number;
}

export type TokenGrant = Omit<AuthContext, 'token' | 'auditIds' | 'issuedAtMs' | 'expiresAtMs'> & {
  /** Audit ids of the token this one was rescoped from (the audit chain). */
  parentAuditIds?: string[];
  /** Rescoped tokens keep their parent's expiry. */
  expiresAtMs?: number;
};

const CACHE_LIMIT = 20000;

/**
 * Issues and validates signed ES256 (JWS) tokens. Validation checks the signature, expiry and the in-memory
 * revocation list only; a small cache skips the signature check for tokens seen before.
 */
export class TokenProvider implements TokenValidator {
  private cache = new Map<string, AuthContext>();

  constructor(
    private readonly keys: KeyRepository,
    readonly revocations: RevocationList,
    private readonly now: () => number,
    private readonly lifetimeSeconds: number,
  ) {}

  async issue(grant: TokenGrant): Promise<AuthContext> {
    const now = this.now();
    // Whole seconds: the JWT exp claim is in seconds and validation must agree with the issued body.
    const expiresAtMs = Math.floor((grant.expiresAtMs ?? now + this.lifetimeSeconds * 1000) / 1000) * 1000;
    const auditId = randomBytes(16).toString('base64url').slice(0, 22);
    const auditIds = [auditId, ...(grant.parentAuditIds?.slice(-1) ?? [])];
    const claims: TokenClaims = {
      sub: grant.userId,
      openstack_methods: grant.methods,
      openstack_audit_ids: auditIds,
      openstack_user_domain_id: grant.userDomainId,
      openstack_roles: grant.roles.map((r) => [r.id, r.name]),
      openstack_iat_ms: now,
    };
    if (grant.projectId) {
      claims.openstack_project_id = grant.projectId;
      claims.openstack_project_domain_id = grant.projectDomainId ?? undefined;
    }
    if (grant.domainId) claims.openstack_domain_id = grant.domainId;
    if (grant.applicationCredentialId) {
      claims.openstack_app_cred_id = grant.applicationCredentialId;
      claims.openstack_app_cred_restricted = grant.applicationCredentialRestricted;
    }
    const { kid, key } = this.keys.signingKey();
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(expiresAtMs / 1000))
      .sign(key);
    const { parentAuditIds: _p, ...rest } = grant;
    return { ...rest, token, auditIds, issuedAtMs: now, expiresAtMs };
  }

  async validate(token: string): Promise<AuthContext> {
    let auth = this.cache.get(token);
    if (!auth) {
      auth = await this.verify(token);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(token, auth);
    }
    if (auth.expiresAtMs <= this.now())
      throw new Unauthorized('The request you have made requires authentication.');
    if (this.revocations.isRevoked(auth))
      throw new Unauthorized('The request you have made requires authentication.');
    return auth;
  }

  private async verify(token: string): Promise<AuthContext> {
    try {
      const { payload } = await jwtVerify<TokenClaims>(
        token,
        (header) => {
          const key = header.kid ? this.keys.verificationKey(header.kid, this.now()) : null;
          if (!key) throw new joseErrors.JWKSNoMatchingKey();
          return key;
        },
        { algorithms: ['ES256'], currentDate: new Date(this.now()), requiredClaims: ['sub', 'exp', 'iat'] },
      );
      return {
        token,
        userId: payload.sub,
        userDomainId: payload.openstack_user_domain_id,
        projectId: payload.openstack_project_id ?? null,
        projectDomainId: payload.openstack_project_domain_id ?? null,
        domainId: payload.openstack_domain_id ?? null,
        roles: (payload.openstack_roles ?? []).map(([id, name]) => ({ id, name })),
        methods: payload.openstack_methods ?? [],
        auditIds: payload.openstack_audit_ids ?? [],
        issuedAtMs: payload.openstack_iat_ms ?? (payload.iat as number) * 1000,
        expiresAtMs: (payload.exp as number) * 1000,
        applicationCredentialId: payload.openstack_app_cred_id ?? null,
        applicationCredentialRestricted: payload.openstack_app_cred_restricted ?? false,
      };
    } catch {
      throw new Unauthorized('The request you have made requires authentication.');
    }
  }
}
