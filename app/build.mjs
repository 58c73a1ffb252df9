// Builds the photo app into app/dist/ with esbuild: src/main.js and the modules it imports
// (amazon-cognito-identity-js and thumbhash from node_modules) into one minified ES module,
// src/app.css into one stylesheet, both named by their content's hash (cached for a year), and
// index.html naming them (never cached). Run by `make app` and by plugins/app-upload.js at
// deploy, so a deployed app is always built from the code being deployed.
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function build() {
  const dist = path.join(here, 'dist');
  await rm(dist, { recursive: true, force: true });
  await mkdir(dist, { recursive: true });
  const result = await esbuild.build({
    entryPoints: { app: path.join(here, 'src', 'main.js'), style: path.join(here, 'src', 'app.css') },
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    format: 'esm',
    target: ['es2020'],
    platform: 'browser',
    entryNames: '[name]-[hash]',
    outdir: dist,
    metafile: true,
    // the Cognito library's Buffer polyfill reads `global`, which browsers call globalThis
    define: { global: 'globalThis' },
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((file) => path.basename(file));
  const script = outputs.find((name) => name.startsWith('app-') && name.endsWith('.js'));
  const style = outputs.find((name) => name.startsWith('style-') && name.endsWith('.css'));
  const page = await readFile(path.join(here, 'index.html'), 'utf8');
  await writeFile(path.join(dist, 'index.html'), page.replace('{{script}}', script).replace('{{style}}', style));
  await copyFile(path.join(here, 'icon.svg'), path.join(dist, 'icon.svg'));
  return dist;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dist = await build();
  console.log(`app built into ${path.relative(process.cwd(), dist) || dist}`);
}
