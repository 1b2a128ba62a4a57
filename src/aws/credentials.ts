// Where the AWS credentials come from, and one line saying what to set when they cannot be found.
// All clients of a run share one provider, so the credential sources are searched once, and the
// instance metadata service (the last source, only there on EC2) gets one short try rather than
// holding up a run on a machine that has none.

import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { DupsworksError, describeError } from '../errors.js';

type AwsCredentialIdentityProvider = ReturnType<typeof fromIni>;
type AwsCredentialIdentity = Awaited<ReturnType<AwsCredentialIdentityProvider>>;

/** Credentials are looked up again this long before they expire. */
const REFRESH_MARGIN_MS = 5 * 60 * 1000;

/**
 * The default chain (environment, SSO, web identity, shared files, container or instance role),
 * or, when a profile is named (`--profile` or AWS_PROFILE), that profile and nothing else: a
 * misspelt profile must not quietly fall back to other credentials.
 */
export function credentialsFor(profile: string | undefined): AwsCredentialIdentityProvider {
  const named = profile ?? process.env.AWS_PROFILE;
  // The shared files are read at each search (the SDK would keep its first reading, or its failure
  // to read, for the life of the process): a reconcile loop sees a profile written or rotated since.
  const source: AwsCredentialIdentityProvider = named
    ? fromIni({ profile: named, ignoreCache: true })
    : defaultProvider({ timeout: 1000, maxRetries: 0, ec2MetadataV1Disabled: true, ignoreCache: true });
  let cached: Promise<AwsCredentialIdentity> | undefined;
  let expiresAt = Infinity;
  return () => {
    if (!cached || Date.now() > expiresAt - REFRESH_MARGIN_MS) {
      cached = source().then(
        (credentials) => {
          expiresAt = credentials.expiration?.getTime() ?? Infinity;
          return credentials;
        },
        (error: unknown) => {
          throw explain(error, named);
        },
      );
    }
    return cached;
  };
}

function explain(error: unknown, profile: string | undefined): DupsworksError {
  const message = describeError(error);
  if (profile && /Could not resolve credentials using profile/.test(message)) {
    return new DupsworksError(
      'ProfileNotFound',
      'user',
      `AWS profile "${profile}" is not in the shared config or credentials file (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE): name an existing one with --profile (or AWS_PROFILE), or create it with "aws configure --profile ${profile}"`,
    );
  }
  if (profile) {
    return new DupsworksError(
      'NoCredentials',
      'user',
      `AWS profile "${profile}" gives no credentials: ${message.replace(/^CredentialsProviderError: /, '')}`,
    );
  }
  return new DupsworksError(
    'NoCredentials',
    'user',
    'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile (or AWS_PROFILE), or run on an instance with a role',
  );
}
