/** Entry of the `scenerec` command (bundled into dist/cli/scenerec.mjs by `npm run build:cli`). */
import { runCli } from '../training/scenerec-cli.js';

runCli(process.argv.slice(2)).then((code) => { process.exitCode = code; });
