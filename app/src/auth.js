// Sign-in with the stage's Cognito user pool as browsers do it: SRP (the password never leaves
// the page) through amazon-cognito-identity-js, which keeps the tokens in localStorage and,
// when the ID token has expired, gets new ones with the refresh token (getSession).
import { AuthenticationDetails, CognitoUser, CognitoUserPool } from 'amazon-cognito-identity-js';

export class SignInError extends Error {}

const MESSAGES = {
  NotAuthorizedException: 'Wrong user name or password.',
  UserNotFoundException: 'Wrong user name or password.',
  PasswordResetRequiredException: 'Your password must be reset by the administrator.',
  UserNotConfirmedException: 'This account is not confirmed yet.',
  TooManyRequestsException: 'Too many sign-in attempts. Wait a minute and try again.',
  LimitExceededException: 'Too many sign-in attempts. Wait a minute and try again.',
};

export function createAuth(config) {
  const endpoint = config.cognitoEndpoint ? new URL(config.cognitoEndpoint, location.origin).href : undefined;
  const pool = new CognitoUserPool({ UserPoolId: config.userPoolId, ClientId: config.userPoolClientId, endpoint });

  function session(user) {
    return new Promise((resolve, reject) => {
      user.getSession((error, current) => (error ? reject(error) : resolve(current)));
    });
  }

  return {
    /** The signed-in user's name, or null. */
    username() {
      return pool.getCurrentUser()?.getUsername() ?? null;
    },

    /** A valid ID token (refreshed by the library when it has expired), or null. */
    async idToken() {
      const user = pool.getCurrentUser();
      if (!user) return null;
      try {
        const current = await session(user);
        return current.isValid() ? current.getIdToken().getJwtToken() : null;
      } catch {
        return null; // the refresh token expired or was revoked: sign in again
      }
    },

    signIn(username, password) {
      const user = new CognitoUser({ Username: username, Pool: pool });
      user.setAuthenticationFlowType('USER_SRP_AUTH');
      const details = new AuthenticationDetails({ Username: username, Password: password });
      return new Promise((resolve, reject) => {
        user.authenticateUser(details, {
          onSuccess: () => resolve(user.getUsername()),
          onFailure: (error) => {
            const known = MESSAGES[error?.code];
            const network = error?.name === 'TypeError' || error?.code === 'NetworkError';
            reject(new SignInError(known || (network ? 'Cannot reach the sign-in service. Check your connection.'
              : `Sign-in failed: ${error?.message || error}`)));
          },
          newPasswordRequired: () => reject(new SignInError(
            'This account still has its temporary password: ask the administrator to set one.')),
        });
      });
    },

    /** Forgets the tokens in this browser (the library's signOut). */
    signOut() {
      pool.getCurrentUser()?.signOut();
    },
  };
}
