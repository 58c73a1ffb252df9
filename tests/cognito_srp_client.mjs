// Signs in to a Cognito user pool with SRP as browsers do, through the same client library the
// app bundles (amazon-cognito-identity-js): tests/test_app_signin.py runs it against the local
// cloud. Arguments: endpoint pool-id client-id username password. Prints one JSON line.
import { AuthenticationDetails, CognitoUser, CognitoUserPool } from "amazon-cognito-identity-js";

const [endpoint, UserPoolId, ClientId, Username, Password] = process.argv.slice(2);
const pool = new CognitoUserPool({ UserPoolId, ClientId, endpoint });
const user = new CognitoUser({ Username, Pool: pool });
user.setAuthenticationFlowType("USER_SRP_AUTH");
user.authenticateUser(new AuthenticationDetails({ Username, Password }), {
  onSuccess: (session) => {
    console.log(JSON.stringify({ idToken: session.getIdToken().getJwtToken(),
      refreshToken: session.getRefreshToken().getToken() }));
  },
  onFailure: (error) => console.log(JSON.stringify({ error: error.code, message: error.message })),
});
