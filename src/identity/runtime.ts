import type { KeyRepository } from './tokens/keys.js';
import type { TokenProvider } from './tokens/provider.js';
import type { RevocationList } from './tokens/revocation.js';
import type { PasswordHasher } from './passwords.js';

/** What the identity routes share beyond AppDeps: the token machinery and the password hasher. */
export interface IdentityRuntime {
  keys: KeyRepository;
  tokens: TokenProvider;
  revocations: RevocationList;
  passwords: PasswordHasher;
}
