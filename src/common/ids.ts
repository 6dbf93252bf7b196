import { randomBytes, randomUUID } from 'node:crypto';

/** Keystone-style id: 32 hex characters. */
export const newHexId = (): string => randomUUID().replace(/-/g, '');
/** Nova/Neutron/Cinder/Glance-style id: a dashed UUID. */
export const newUuid = (): string => randomUUID();
/** A URL-safe random secret of `bytes` bytes of entropy. */
export const newSecret = (bytes = 32): string => randomBytes(bytes).toString('base64url');
