// Bundle the map (regl-scatterplot + src/map.js) into ../static/embedscope-map.js, minified.
// Run `npm ci && npm run build` here after changing src/ or the dependencies; the bundle is
// committed and shipped in the wheel, so users need neither node nor a CDN.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/index.js'],
  bundle: true,
  minify: true,
  format: 'iife',
  globalName: 'EmbedscopeMap',
  target: ['es2020'],
  outfile: '../static/embedscope-map.js',
  legalComments: 'eof',
  logLevel: 'info',
});
