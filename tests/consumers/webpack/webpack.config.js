// The shop's own webpack 5 config: nothing scenerec-specific (workers and `new URL` assets are webpack 5 defaults).
import { resolve } from 'node:path';

export default (env = {}) => ({
  mode: env.mode ?? 'production',
  entry: './src/main.js',
  output: { path: resolve(import.meta.dirname, 'dist'), filename: 'main.js', publicPath: '/', clean: false },
  devtool: false,
  performance: { hints: false },
});
