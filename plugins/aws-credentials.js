'use strict';

// No AWS credentials: one line saying so, instead of the Framework's fourteen.
//
// serverless.yml names `${aws:accountId}` in many places; without credentials each of them
// fails on its own while the configuration is resolved (before any command's hooks run), and
// the Framework lists every one with the same message. The AWS provider asks for credentials
// through one provider function: this wraps it, so the first "credentials not found" ends the
// command with a single line pointing at what to set. Every other error passes through.
const MISSING = 'AWS_CREDENTIALS_NOT_FOUND';

class AwsCredentials {
  constructor(serverless) {
    const provider = serverless.getProvider('aws');
    if (!provider || typeof provider.getAwsSdkV3CredentialsProvider !== 'function') return;
    const original = provider.getAwsSdkV3CredentialsProvider.bind(provider);
    provider.getAwsSdkV3CredentialsProvider = (options) => {
      const resolve = original(options);
      const checked = async (...args) => {
        try {
          return await resolve(...args);
        } catch (error) {
          if (error && error.code === MISSING) this.stop(serverless);
          throw error;
        }
      };
      checked.memoized = resolve.memoized; // the SDK then keeps the Framework's memoization
      return checked;
    };
  }

  stop(serverless) {
    const command = (serverless.processedInput.commands || []).join(' ') || 'this command';
    process.stderr.write(
      `sls ${command}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID; ` +
        'docs/deploying.md)\n'
    );
    process.exit(1);
  }
}

module.exports = AwsCredentials;
