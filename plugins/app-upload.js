'use strict';

// The photo app (app/, docs/app.md) goes to its own private bucket after each deploy: the
// Framework deploys the stack (the bucket and its CloudFront distribution are resources of it),
// then this plugin builds app/ (app/build.mjs) and puts every file into the bucket with its
// Content-Type and Cache-Control, plus config.json: what the app needs to know about the stage
// (its user pool and app client, where the API is), read from the stack's outputs. Files of an
// older build are left in the bucket (they are named by their hash): a page loaded before the
// deploy still finds its script.
//
// On AWS the app calls the API on its own origin (the distribution's /<stage>/* behaviour) and
// signs in at Cognito's regional endpoint; against the local cloud (AWS_ENDPOINT_URL set) it
// calls /_api/<stage>/ and signs in at the local cloud itself.
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const { DescribeStacksCommand } = require('@aws-sdk/client-cloudformation');
const { PutObjectCommand, S3Client } = require('@aws-sdk/client-s3');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
};
const HASHED = /-[A-Z0-9]{8}\.(js|css)(\.map)?$/;

class AppUpload {
  constructor(serverless) {
    this.serverless = serverless;
    this.provider = serverless.getProvider('aws');
    this.hooks = { 'after:deploy:deploy': () => this.upload() };
  }

  fail(message) {
    throw new this.serverless.classes.Error(`photo app: ${message}`);
  }

  async upload() {
    const root = this.serverless.serviceDir;
    const { build } = await import(pathToFileURL(path.join(root, 'app', 'build.mjs')).href);
    const dist = await build();
    const stackName = this.provider.naming.getStackName();
    const cloudFormation = await this.provider.getCloudFormationClient();
    const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = Object.fromEntries((Stacks[0].Outputs || []).map((o) => [o.OutputKey, o.OutputValue]));
    for (const name of ['AppBucketName', 'UserPoolId', 'UserPoolClientId']) {
      if (!outputs[name]) this.fail(`the stack has no ${name} output: is serverless.yml's photo app section there?`);
    }
    const stage = this.provider.getStage();
    const local = Boolean(process.env.AWS_ENDPOINT_URL);
    const config = {
      stage,
      region: this.provider.getRegion(),
      userPoolId: outputs.UserPoolId,
      userPoolClientId: outputs.UserPoolClientId,
      apiUrl: local ? `/_api/${stage}` : `/${stage}`,
      cognitoEndpoint: local ? '/' : null,
      renditions: outputs.Renditions || null,
    };
    const files = fs.readdirSync(dist).map((name) => [name, fs.readFileSync(path.join(dist, name))]);
    files.push(['config.json', Buffer.from(JSON.stringify(config, null, 2) + '\n')]);
    // index.html and config.json last: they name the others, which must be there first.
    files.sort(([a], [b]) => Number(HASHED.test(b)) - Number(HASHED.test(a)));
    const s3 = new S3Client(await this.provider.getAwsSdkV3Config());
    for (const [name, body] of files) {
      await s3.send(new PutObjectCommand({
        Bucket: outputs.AppBucketName,
        Key: name,
        Body: body,
        ContentType: TYPES[path.extname(name)] || 'application/octet-stream',
        CacheControl: HASHED.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache',
      }));
    }
    const where = local ? `/_app/${stage}/ on the local cloud` : outputs.AppUrl;
    this.serverless.cli.log(`photo app: ${files.length} files uploaded to ${outputs.AppBucketName} (${where})`);
  }
}

module.exports = AppUpload;
